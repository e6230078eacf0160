package templatecheck

import (
	"maps"
	"slices"
	"strings"
)

// MediaFunctions are the functions that run FFmpeg (or pg_dump) on
// untrusted input. [SecretsPerFunction] keeps every session and Google
// secret out of their reach, so a decoder exploit yields neither.
var MediaFunctions = []string{
	"IngestFunction", "TranscodeFunction", "TranscribeFunction", "TranslateFunction",
	"SynthesizeFunction", "MixFunction", "BackupFunction",
}

// sessionSecrets are the parameters a media function must never read.
var sessionSecrets = []string{"AUTH_SECRET", "NEXTAUTH_SECRET", "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"}

// ssmParameterARN is the start of an SSM parameter's ARN with the pseudo
// parameters left as written; the parameter's path and name follow it.
const ssmParameterARN = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"

// SecretsPerFunction checks, in every stage and with and without a preview's
// SecretsPath, that each function's policies grant ssm:GetParameters on
// exactly the parameters its SECRETS_SSM_NAMES lists under its
// SECRETS_SSM_PATH, and no other SSM read (GetParametersByPath and
// GetParametersByPath-like SAM templates read a whole path); and that no
// media function ([MediaFunctions]) lists or is granted a session or Google
// secret; and that a preview's dev-login reads its access code
// (DEV_LOGIN_CODE).
func SecretsPerFunction(t *Template) error {
	var ps problems
	for _, stage := range t.StageValues() {
		for _, secretsPath := range []string{"", "/redub/" + stage + "/pr-1/"} {
			st := t.Stage(map[string]string{"Stage": stage, "SecretsPath": secretsPath})
			for _, fn := range t.IDs(TypeFunction) {
				if has, err := st.Has(fn); err != nil || !has {
					continue
				}
				resolved, err := st.Resolve(t.FunctionProperties(fn))
				if err != nil {
					ps.add(fn, "stage %s: %v", stage, err)
					continue
				}
				props, _ := resolved.(map[string]any)
				env, _ := props["Environment"].(map[string]any)
				vars, _ := env["Variables"].(map[string]any)
				path, _ := subParams(vars["SECRETS_SSM_PATH"], st)
				rawNames, _ := scalar(vars["SECRETS_SSM_NAMES"])
				var statements []map[string]any
				for i, p := range list(props["Policies"]) {
					switch x := p.(type) {
					case map[string]any:
						if id, _, ok := target(x); ok {
							doc, err := st.Resolve(t.Properties(id)["PolicyDocument"])
							if err != nil {
								ps.add(fn, "stage %s: policy %s: %v", stage, id, err)
							}
							statements = append(statements, docStatements(doc)...)
							continue
						}
						if _, ok := x["Statement"]; ok {
							statements = append(statements, docStatements(x)...)
							continue
						}
						for name := range x {
							if strings.Contains(name, "SSM") || strings.Contains(name, "Secret") {
								ps.add(fn, "Policies[%d]: SAM policy template %s reads secrets beyond the named parameters; grant ssm:GetParameters on them instead", i, name)
							}
						}
					case string:
						if strings.Contains(x, "SSM") {
							ps.add(fn, "Policies[%d]: managed policy %s reads SSM beyond the named parameters", i, x)
						}
					}
				}
				for _, s := range statements {
					if rs := list(s["Resource"]); len(rs) > 0 {
						out := make([]any, len(rs))
						for i, r := range rs {
							out[i] = r
							if str, ok := subParams(r, st); ok {
								out[i] = str
							}
						}
						s["Resource"] = out
					}
				}
				checkFunctionSecrets(fn, stage, path, rawNames, statements, &ps)
				if fn == DevLoginFunction && secretsPath != "" && !slices.Contains(strings.Split(rawNames, ","), "DEV_LOGIN_CODE") {
					ps.add(fn, "stage %s with SecretsPath (a preview): SECRETS_SSM_NAMES must list DEV_LOGIN_CODE, the preview's access code", stage)
				}
			}
		}
	}
	return ps.err()
}

// checkFunctionSecrets compares what a function lists with what its policy
// statements grant. It is shared by the check of the template as written and
// of the template as the SAM transform outputs it.
func checkFunctionSecrets(fn, stage, path, rawNames string, statements []map[string]any, ps *problems) {
	if path == "" {
		ps.add(fn, "stage %s: no SECRETS_SSM_PATH", stage)
		return
	}
	var names []string
	for _, n := range strings.Split(rawNames, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		ps.add(fn, "stage %s: no SECRETS_SSM_NAMES: the config reads only the parameters it names", stage)
	}
	granted := map[string]bool{}
	for _, s := range statements {
		if effect, _ := s["Effect"].(string); effect != "Allow" {
			continue
		}
		var ssm []string
		for _, a := range list(s["Action"]) {
			if a, ok := a.(string); ok && strings.HasPrefix(strings.ToLower(a), "ssm:") {
				ssm = append(ssm, a)
			}
		}
		if len(ssm) == 0 {
			continue
		}
		for _, a := range ssm {
			if a != "ssm:GetParameters" && a != "ssm:GetParameter" {
				ps.add(fn, "stage %s: grants %s; only ssm:GetParameters on named parameters (a path read reaches every secret under it)", stage, a)
			}
		}
		if _, ok := s["NotResource"]; ok {
			ps.add(fn, "stage %s: an SSM grant with NotResource", stage)
		}
		for _, r := range list(s["Resource"]) {
			arn, ok := subParamsStrict(r)
			name, under := strings.CutPrefix(arn, ssmParameterARN+path)
			if !ok || !under || name == "" || strings.ContainsAny(name, "/*?$") {
				ps.add(fn, "stage %s: SSM resource %s is not one parameter under %s", stage, compact(r), path)
				continue
			}
			granted[name] = true
		}
	}
	for _, n := range names {
		if !granted[n] {
			ps.add(fn, "stage %s: SECRETS_SSM_NAMES lists %s, which its policies do not grant (under %s)", stage, n, path)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(granted)) {
		if !slices.Contains(names, n) {
			ps.add(fn, "stage %s: its policies grant %s%s, which SECRETS_SSM_NAMES does not list", stage, path, n)
		}
	}
	if slices.Contains(MediaFunctions, fn) {
		for _, n := range sessionSecrets {
			if granted[n] || slices.Contains(names, n) {
				ps.add(fn, "stage %s: a media function may not read %s", stage, n)
			}
		}
	}
}

func docStatements(doc any) []map[string]any {
	d, _ := doc.(map[string]any)
	var out []map[string]any
	for _, st := range list(d["Statement"]) {
		if s, ok := st.(map[string]any); ok {
			out = append(out, s)
		}
	}
	return out
}

// subParams returns v as a string: a string as is, an Fn::Sub with the
// stage's parameters substituted (other ${...} left as written).
func subParams(v any, st *Stage) (string, bool) {
	if s, ok := v.(string); ok {
		return s, true
	}
	m, _ := v.(map[string]any)
	src, ok := m["Fn::Sub"].(string)
	if !ok || len(m) != 1 {
		return "", false
	}
	for _, name := range subNames(src) {
		if val, err := st.Resolve(map[string]any{"Ref": name}); err == nil {
			if s, ok := val.(string); ok {
				src = strings.ReplaceAll(src, "${"+name+"}", s)
			}
		}
	}
	return src, true
}

// subParamsStrict reads a resource whose parameters are substituted: a
// string, or an Fn::Sub (as the SAM transform leaves it) of one.
func subParamsStrict(v any) (string, bool) {
	if s, ok := v.(string); ok {
		return s, true
	}
	m, _ := v.(map[string]any)
	src, ok := m["Fn::Sub"].(string)
	return src, ok && len(m) == 1
}
