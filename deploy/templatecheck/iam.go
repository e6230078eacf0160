package templatecheck

import (
	"maps"
	"slices"
	"strings"
)

// Allowance is one accepted exception to the no-wildcard rule.
type Allowance struct {
	// What names it: a SAM policy template ("SQSSendMessagePolicy"), an AWS
	// managed policy by name ("AWSBackupServiceRolePolicyForS3Backup"), or
	// one statement ("<LogicalId>/<Sid>").
	What string
	// Implicit marks what the SAM transform attaches outside the template.
	// No check sees those; they are listed so the whole picture is here.
	Implicit bool
	Reason   string
}

// Allowlist returns the exceptions [NoWildcardIAM] accepts, with the reason
// AWS forces each.
func Allowlist() []Allowance {
	return []Allowance{
		{What: "SQSSendMessagePolicy", Reason: "SAM's policy template for sending to one queue; it expands to " +
			"sqs:SendMessage* (SendMessage and SendMessageBatch) on the one queue it names"},
		{What: "AWSBackupServiceRolePolicyForS3Backup", Reason: "AWS Backup needs this managed policy on the role it " +
			"assumes to snapshot S3 (it names no bucket; the role trusts only backup.amazonaws.com and the " +
			"backup selection names the media bucket alone)"},
		{What: "AWSBackupServiceRolePolicyForS3Restore", Reason: "as the S3 backup policy, for restores"},

		{What: "AWSLambdaBasicExecutionRole", Implicit: true, Reason: "SAM attaches it to every function: " +
			"logs:CreateLogGroup, CreateLogStream and PutLogEvents on \"*\", which Lambda uses to write the " +
			"function's logs (to its LoggingConfig log group)"},
		{What: "AWSXrayWriteOnlyAccess", Implicit: true, Reason: "SAM attaches it for Tracing: Active; X-Ray has " +
			"no resource-level permissions, so its actions need \"*\""},
		{What: "AWSLambdaSQSQueueExecutionRole", Implicit: true, Reason: "SAM attaches it for an SQS event: " +
			"ReceiveMessage, DeleteMessage and GetQueueAttributes on every queue (\"*\"). NoWildcardIAM makes " +
			"each consumer deny those actions on every queue but its own (NotResource), which undoes the wildcard"},
		{What: "WebBucketPolicy/AllowWebDistribution", Reason: "the web distribution serves every file of the web " +
			"bucket, which holds nothing but the built app: s3:GetObject on its every object, for the CloudFront " +
			"service principal only when the request comes from this distribution (AWS:SourceArn)"},
		{What: "AWSCodeDeployRoleForLambda", Implicit: true, Reason: "SAM's CodeDeploy service role for " +
			"DeploymentPreference; CodeDeploy shifts alias weights and reads the rollback alarms with it"},
	}
}

func allowed(what string) bool {
	return slices.ContainsFunc(Allowlist(), func(a Allowance) bool { return !a.Implicit && a.What == what })
}

// pollerActions are the SQS actions of SAM's SQS poller policy that reach
// other queues' messages.
var pollerActions = []string{"sqs:ReceiveMessage", "sqs:DeleteMessage"}

// NoWildcardIAM checks every IAM statement the template declares (function
// Policies, managed policies, roles, and queue, bucket and topic policies):
// an Allow may not use "*" in an action, a resource that is "*", or a
// wildcard in place of a resource's name (a bucket's every object, every
// function, every queue), nor NotAction or NotResource; a resource policy
// may not allow Principal "*". SAM policy templates and AWS managed policies
// must be in [Allowlist], as must a statement (by "<LogicalId>/<Sid>") that
// needs a wildcard. Deny statements may use wildcards: they narrow access.
// Every function with SQS events must deny sqs:ReceiveMessage and
// sqs:DeleteMessage with NotResource naming exactly its event queues, to
// fence SAM's poller policy.
func NoWildcardIAM(t *Template) error {
	var ps problems
	for _, id := range slices.Sorted(maps.Keys(t.Section("Resources"))) {
		props := t.Properties(id)
		switch t.TypeOf(id) {
		case TypeFunction:
			functionPolicies(t, id, &ps)
		case "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy":
			document(id, props["PolicyDocument"], false, &ps)
		case "AWS::IAM::Role":
			for _, p := range list(props["Policies"]) {
				pm, _ := p.(map[string]any)
				document(id, pm["PolicyDocument"], false, &ps)
			}
			for _, arn := range list(props["ManagedPolicyArns"]) {
				managedPolicy(t, id, arn, &ps)
			}
		case "AWS::SQS::QueuePolicy", TypeBucketPolicy, "AWS::SNS::TopicPolicy":
			document(id, props["PolicyDocument"], true, &ps)
		}
	}
	return ps.err()
}

func functionPolicies(t *Template, fn string, ps *problems) {
	var inline []map[string]any
	for i, p := range ifBranches(list(t.FunctionProperties(fn)["Policies"])) {
		switch x := p.(type) {
		case string:
			managedPolicy(t, fn, x, ps)
		case map[string]any:
			if id, _, ok := target(x); ok {
				if t.TypeOf(id) != "AWS::IAM::ManagedPolicy" {
					ps.add(fn, "Policies[%d]: !Ref %s is not a managed policy of this template", i, id)
				} // else checked as its own resource
				continue
			}
			if _, ok := x["Statement"]; ok {
				document(fn, x, false, ps)
				for _, st := range list(x["Statement"]) {
					if s, ok := st.(map[string]any); ok {
						inline = append(inline, s)
					}
				}
				continue
			}
			if len(x) == 1 {
				for name := range x {
					if !allowed(name) {
						ps.add(fn, "Policies[%d]: SAM policy template %s is not in the allowlist (add it with the reason, or write a scoped statement)", i, name)
					}
				}
				continue
			}
			ps.add(fn, "Policies[%d]: cannot read %s", i, compact(x))
		default:
			ps.add(fn, "Policies[%d]: cannot read %s", i, compact(x))
		}
	}
	var queues []string
	for _, ev := range sqsEvents(t) {
		if ev.function == fn {
			queues = append(queues, ev.queue)
		}
	}
	if len(queues) > 0 && !fenced(inline, queues) {
		ps.add(fn, "SAM's SQS event gives it %v on every queue: add a Deny of those actions with NotResource: [%s] (see the OwnQueueOnly statements)",
			pollerActions, strings.Join(arns(queues), ", "))
	}
}

func arns(queues []string) []string {
	out := make([]string, len(queues))
	for i, q := range queues {
		out[i] = "!GetAtt " + q + ".Arn"
	}
	return out
}

// fenced reports whether a Deny statement covers the poller actions on
// every queue except exactly these.
func fenced(statements []map[string]any, queues []string) bool {
	want := slices.Sorted(slices.Values(queues))
	for _, s := range statements {
		if s["Effect"] != "Deny" {
			continue
		}
		actions := list(s["Action"])
		coversAll := true
		for _, a := range pollerActions {
			coversAll = coversAll && slices.Contains(actions, any(a))
		}
		if coversAll {
			var except []string
			for _, r := range list(s["NotResource"]) {
				if id, attr, ok := target(r); ok && attr == "Arn" {
					except = append(except, id)
				}
			}
			slices.Sort(except)
			if slices.Equal(except, want) && len(except) == len(list(s["NotResource"])) {
				return true
			}
		}
	}
	return false
}

// managedPolicy checks an AWS managed policy given by name or ARN.
func managedPolicy(t *Template, where string, v any, ps *problems) {
	var name string
	switch x := v.(type) {
	case string:
		name = x
	case map[string]any:
		if id, _, ok := target(x); ok && t.TypeOf(id) == "AWS::IAM::ManagedPolicy" {
			return
		}
		if sub, ok := x["Fn::Sub"].(string); ok {
			name = sub
		}
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if name == "" || !allowed(name) {
		ps.add(where, "managed policy %s is not in the allowlist (AWS managed policies are broad; add it with the reason, or write scoped statements)", compact(v))
	}
}

// document checks the statements of one policy document.
func document(where string, doc any, resourcePolicy bool, ps *problems) {
	d, _ := doc.(map[string]any)
	for i, st := range list(d["Statement"]) {
		s, _ := st.(map[string]any)
		if s["Effect"] == "Deny" {
			continue
		}
		name := sid(s, i)
		if allowed(where + "/" + name) {
			continue
		}
		if _, ok := s["NotAction"]; ok {
			ps.add(where, "statement %s allows NotAction (everything else)", name)
		}
		if _, ok := s["NotResource"]; ok {
			ps.add(where, "statement %s allows NotResource (everything else)", name)
		}
		for _, a := range list(s["Action"]) {
			if wildAction(a) {
				ps.add(where, "statement %s allows action %s", name, compact(a))
			}
		}
		resources := list(s["Resource"])
		if len(resources) == 0 && !resourcePolicy {
			ps.add(where, "statement %s has no Resource", name)
		}
		for _, r := range resources {
			if wild, known := wildResource(r); !known {
				ps.add(where, "statement %s: cannot tell whether resource %s is scoped", name, compact(r))
			} else if wild {
				ps.add(where, "statement %s allows resource %s: name one queue, bucket prefix or path", name, compact(r))
			}
		}
		if resourcePolicy && publicPrincipal(s["Principal"]) {
			ps.add(where, "statement %s allows Principal \"*\"", name)
		}
	}
}

func wildAction(a any) bool {
	switch x := a.(type) {
	case string:
		return strings.Contains(x, "*")
	case map[string]any:
		if args := list(x["Fn::If"]); len(args) == 3 {
			return wildAction(args[1]) || wildAction(args[2])
		}
	}
	return false
}

// wildResource reports whether a resource is a wildcard; known is false
// for an intrinsic it cannot read.
func wildResource(r any) (wild, known bool) {
	switch x := r.(type) {
	case string:
		return wildARN(x), true
	case map[string]any:
		if _, _, ok := target(x); ok {
			return false, true
		}
		if args := list(x["Fn::If"]); len(args) == 3 {
			w1, k1 := wildResource(args[1])
			w2, k2 := wildResource(args[2])
			return w1 || w2, k1 && k2
		}
		if sub, ok := x["Fn::Sub"]; ok {
			src, _ := list(sub)[0].(string)
			return wildSub(src), true
		}
	}
	return false, false
}

// wildSub reads an Fn::Sub resource. One that starts with a reference
// (${MediaBucket.Arn}/uploads/*) is scoped by what follows it, unless that
// is nothing but a wildcard (${MediaBucket.Arn}/*: every object);
// otherwise it is read as an ARN with each ${...} standing for a name.
func wildSub(src string) bool {
	if rest, ok := strings.CutPrefix(src, "${"); ok {
		if name, after, ok := strings.Cut(rest, "}"); ok && !strings.HasPrefix(name, "AWS::") {
			return after == "/*" || strings.HasPrefix(after, "*")
		}
	}
	var b strings.Builder
	for {
		i := strings.Index(src, "${")
		j := strings.Index(src, "}")
		if i < 0 || j < i {
			b.WriteString(src)
			break
		}
		b.WriteString(src[:i] + "x")
		src = src[j+1:]
	}
	return wildARN(b.String())
}

// wildARN reports whether an ARN (or "*") leaves its service, region,
// account or resource name to a wildcard: "*", "arn:aws:sqs:*:1:q",
// "arn:aws:s3:::bucket/*", "arn:aws:lambda:r:1:function:*". A wildcard after
// a named prefix ("parameter/redub/staging/*", "bucket/uploads/*") is scoped.
func wildARN(s string) bool {
	if !strings.HasPrefix(s, "arn:") {
		return strings.HasPrefix(s, "*")
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) < 6 {
		return strings.Contains(s, "*")
	}
	for _, p := range parts[1:5] {
		if strings.Contains(p, "*") {
			return true
		}
	}
	res := parts[5]
	if strings.HasPrefix(res, "*") {
		return true
	}
	if parts[2] == "s3" {
		bucket, objects, _ := strings.Cut(res, "/")
		return strings.Contains(bucket, "*") || objects == "*"
	}
	if i := strings.IndexAny(res, ":/"); i >= 0 {
		return strings.HasPrefix(res[i+1:], "*")
	}
	return false
}

// ifBranches replaces each {"Fn::If": [cond, a, b]} in items by a and b (an
// AWS::NoValue branch by nothing), so a rule holds whichever way the
// condition goes.
func ifBranches(items []any) []any {
	var out []any
	for _, it := range items {
		m, _ := it.(map[string]any)
		args, ok := m["Fn::If"].([]any)
		if !ok || len(m) != 1 || len(args) != 3 {
			out = append(out, it)
			continue
		}
		for _, br := range ifBranches(args[1:]) {
			if b, _ := br.(map[string]any); b != nil && b["Ref"] == "AWS::NoValue" {
				continue
			}
			out = append(out, br)
		}
	}
	return out
}
