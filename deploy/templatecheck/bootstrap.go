package templatecheck

import (
	"path"
	"slices"
	"strings"
)

// productionStack is the ARN of a redub-production stack as the bootstrap
// template spells its resources (pseudo parameters as written).
const productionStack = "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/redub-production/00000000-0000-0000-0000-000000000000"

// BootstrapRoles checks deploy/bootstrap.yaml, the stack that creates the
// GitHub deploy roles, with its parameters' defaults: no default holds a
// wildcard; every role GitHub may assume trusts exactly one environment of
// the repository (StringEquals on the token's sub, no wildcard); one role
// trusts environment:production; and every other role can change no
// redub-production stack: none of its Allow statements names one (a pattern
// such as stack/redub-*/* does), and it denies CloudFormation on it.
func BootstrapRoles(t *Template) error {
	var ps problems
	for name, decl := range t.Section("Parameters") {
		d, _ := decl.(map[string]any)
		if s, ok := scalar(d["Default"]); ok && strings.Contains(s, "*") {
			ps.add("parameter "+name, "Default %q has a wildcard; the defaults must be safe as they are", s)
		}
	}
	st := t.Stage(nil)
	production := 0
	for _, id := range t.IDs("AWS::IAM::Role") {
		resolved, err := st.Resolve(t.Properties(id))
		if err != nil {
			ps.add(id, "%v", err)
			continue
		}
		props, _ := resolved.(map[string]any)
		env, federated := githubEnvironment(id, props, &ps)
		if !federated {
			continue
		}
		if env == "production" {
			production++
			continue
		}
		var statements []map[string]any
		for _, p := range list(props["Policies"]) {
			pm, _ := p.(map[string]any)
			statements = append(statements, docStatements(pm["PolicyDocument"])...)
		}
		denied := false
		for _, s := range statements {
			actions := list(s["Action"])
			cfn := slices.ContainsFunc(actions, func(a any) bool { s, _ := a.(string); return strings.HasPrefix(s, "cloudformation:") || s == "*" })
			if !cfn {
				continue
			}
			for _, r := range list(s["Resource"]) {
				arn, _ := subParams(r, st)
				if ok, _ := path.Match(arn, productionStack); ok {
					if s["Effect"] == "Allow" {
						ps.add(id, "trusts environment:%s but may change redub-production (Allow on %s)", env, arn)
					} else {
						denied = true
					}
				}
			}
		}
		if !denied {
			ps.add(id, "trusts environment:%s and has no Deny of CloudFormation on redub-production", env)
		}
	}
	if production != 1 {
		ps.add("bootstrap", "%d roles trust environment:production; want exactly one", production)
	}
	return ps.err()
}

// githubEnvironment reads a role's trust policy. For a role GitHub's OIDC
// tokens may assume, it returns the one environment it trusts, and records
// a problem when the subject is not exactly repo:<repository>:environment:<name>.
func githubEnvironment(id string, props map[string]any, ps *problems) (string, bool) {
	doc, _ := props["AssumeRolePolicyDocument"].(map[string]any)
	env, federated := "", false
	for i, s := range docStatements(doc) {
		principal, _ := s["Principal"].(map[string]any)
		if principal["Federated"] == nil {
			continue
		}
		federated = true
		cond, _ := s["Condition"].(map[string]any)
		for op, m := range cond {
			if mm, _ := m.(map[string]any); mm["token.actions.githubusercontent.com:sub"] != nil && op != "StringEquals" {
				ps.add(id, "statement %s matches the token's sub with %s; use StringEquals on one environment", sid(s, i), op)
			}
		}
		eq, _ := cond["StringEquals"].(map[string]any)
		sub, _ := eq["token.actions.githubusercontent.com:sub"].(map[string]any)
		src, _ := sub["Fn::Sub"].(string)
		e, ok := strings.CutPrefix(src, "repo:${GitHubRepository}:environment:")
		if !ok || e == "" || strings.ContainsAny(e, "*?$") {
			ps.add(id, "statement %s trusts sub %s; want repo:${GitHubRepository}:environment:<one environment>", sid(s, i), compact(eq["token.actions.githubusercontent.com:sub"]))
			continue
		}
		if env != "" && env != e {
			ps.add(id, "trusts two environments, %s and %s", env, e)
		}
		env = e
	}
	return env, federated
}
