package templatecheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoSAMTranslator is returned by [Transform] where Python's cfn-lint (with
// aws-sam-translator) is not installed.
var ErrNoSAMTranslator = errors.New("cfn-lint with aws-sam-translator is missing: pip install 'cfn-lint==1.51.0' 'aws-sam-translator==1.110.0'")

// Transform runs the SAM transform on the template at path (through
// scripts/sam-transform.py, next to it) and parses the result: the
// CloudFormation template SAM would deploy, with AWS::Lambda::Function and
// AWS::IAM::Role resources in place of AWS::Serverless::Function and every
// policy template expanded. It takes about ten seconds.
func Transform(ctx context.Context, path string) (*Template, error) {
	dir := filepath.Dir(path)
	cmd := exec.CommandContext(ctx, "python3", filepath.Join(dir, "scripts", "sam-transform.py"), path) //nolint:gosec // our own script
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.As(err, &ee) && ee.ExitCode() == 3:
		return nil, ErrNoSAMTranslator
	case err != nil:
		return nil, fmt.Errorf("sam transform %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	t, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("sam transform %s: %w", path, err)
	}
	t.Dir = dir
	return t, nil
}

// awsManagedPrefix starts the ARN of an AWS managed policy.
const awsManagedPrefix = "arn:aws:iam::aws:policy/"

// TransformedFunctionPolicies checks the SAM-transformed template (see
// [Transform]), which is what really deploys: every function's role has
// only the AWS managed policies of [Allowlist]; a role with SAM's SQS
// execution policy denies receive and delete on all queues but its own; no
// Allow statement, policy templates expanded, has "*" as a resource or in an
// action outside the allowlist; and the SSM parameters its policies grant
// are exactly its SECRETS_SSM_NAMES, with no session or Google secret for a
// media function (as [SecretsPerFunction] checks the template as written).
func TransformedFunctionPolicies(t *Template) error {
	var ps problems
	for _, stage := range t.StageValues() {
		for _, secretsPath := range []string{"", "/redub/" + stage + "/pr-1/"} {
			st := t.Stage(map[string]string{"Stage": stage, "SecretsPath": secretsPath})
			for _, fn := range t.IDs("AWS::Lambda::Function") {
				if has, err := st.Has(fn); err != nil || !has {
					continue
				}
				transformedFunction(t, st, fn, &ps)
			}
		}
	}
	return ps.err()
}

func transformedFunction(t *Template, st *Stage, fn string, ps *problems) {
	stage := st.Name()
	props, err := st.Resolve(t.Properties(fn))
	if err != nil {
		ps.add(fn, "stage %s: %v", stage, err)
		return
	}
	fp, _ := props.(map[string]any)
	roleID, _, ok := target(fp["Role"])
	if !ok || t.TypeOf(roleID) != "AWS::IAM::Role" {
		ps.add(fn, "Role %s is not a role of this template", compact(fp["Role"]))
		return
	}
	rp, err := st.Resolve(t.Properties(roleID))
	if err != nil {
		ps.add(roleID, "stage %s: %v", stage, err)
		return
	}
	role, _ := rp.(map[string]any)
	var statements []map[string]any
	for _, p := range list(role["Policies"]) {
		pm, _ := p.(map[string]any)
		statements = append(statements, docStatements(pm["PolicyDocument"])...)
	}
	var managed []string
	for _, arn := range list(role["ManagedPolicyArns"]) {
		if id, _, ok := target(arn); ok && t.TypeOf(id) == "AWS::IAM::ManagedPolicy" {
			doc, err := st.Resolve(t.Properties(id)["PolicyDocument"])
			if err != nil {
				ps.add(id, "stage %s: %v", stage, err)
			}
			statements = append(statements, docStatements(doc)...)
			continue
		}
		s, _ := subParams(arn, st)
		name, isAWS := strings.CutPrefix(s, awsManagedPrefix)
		name = name[strings.LastIndex(name, "/")+1:]
		if !isAWS || !slices.ContainsFunc(Allowlist(), func(a Allowance) bool { return a.What == name }) {
			ps.add(fn, "stage %s: its role %s attaches %s, which is not in the allowlist", stage, roleID, compact(arn))
			continue
		}
		managed = append(managed, name)
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
		if effect, _ := s["Effect"].(string); effect != "Allow" {
			continue
		}
		for _, a := range list(s["Action"]) {
			if a, _ := a.(string); strings.Contains(a, "*") && a != "sqs:SendMessage*" {
				ps.add(fn, "stage %s: its role %s allows %s", stage, roleID, a)
			}
		}
		for _, r := range list(s["Resource"]) {
			if r == "*" {
				ps.add(fn, "stage %s: its role %s allows %s on \"*\"", stage, roleID, compact(s["Action"]))
			}
		}
	}
	if slices.Contains(managed, "AWSLambdaSQSQueueExecutionRole") && !slices.ContainsFunc(statements, func(s map[string]any) bool {
		actions := list(s["Action"])
		return s["Effect"] == "Deny" && s["NotResource"] != nil &&
			slices.ContainsFunc(pollerActions, func(a string) bool { return slices.Contains(actions, any(a)) }) &&
			!slices.ContainsFunc(pollerActions, func(a string) bool { return !slices.Contains(actions, any(a)) })
	}) {
		ps.add(fn, "stage %s: its role %s has AWSLambdaSQSQueueExecutionRole (%v on every queue) and no Deny fencing it to its own queue", stage, roleID, pollerActions)
	}
	env, _ := fp["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	path, _ := subParams(vars["SECRETS_SSM_PATH"], st)
	names, _ := scalar(vars["SECRETS_SSM_NAMES"])
	checkFunctionSecrets(fn, stage, path, names, statements, ps)
}
