package templatecheck

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Problem is one violation of a rule.
type Problem struct {
	// Resource names where: a logical id ("MixQueue"), "Globals", or a
	// file ("Makefile", "functions/mix").
	Resource string
	Detail   string
}

func (p *Problem) Error() string { return p.Resource + ": " + p.Detail }

// Problems returns the [*Problem] values joined in err, in order; nil for
// a nil error. Other errors in err are left out.
func Problems(err error) []*Problem {
	var out []*Problem
	var walk func(error)
	walk = func(err error) {
		if p, ok := err.(*Problem); ok { //nolint:errorlint // the joined tree is walked by hand
			out = append(out, p)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // as above
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if e := errors.Unwrap(err); e != nil {
			walk(e)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// problems collects the violations of one check.
type problems []error

func (ps *problems) add(resource, format string, args ...any) {
	*ps = append(*ps, &Problem{Resource: resource, Detail: fmt.Sprintf(format, args...)})
}

// err joins the problems, each once (a check that walks the stages finds a
// stage-independent problem in every stage).
func (ps problems) err() error {
	seen := map[string]bool{}
	var out []error
	for _, p := range ps {
		if !seen[p.Error()] {
			seen[p.Error()] = true
			out = append(out, p)
		}
	}
	return errors.Join(out...)
}

// Check is one rule over a template.
type Check struct {
	Name string
	Rule string
	Run  func(*Template) error
}

// Checks returns the checks that need no build. [UnzippedSizes], which
// builds, is separate.
func Checks() []Check {
	return []Check{
		{"function folders", "functions/* and the template's functions match one to one (LogicalId = PascalCase(folder) + Function)", FunctionFolders},
		{"build targets", "every function and layer has a build-<LogicalId> Makefile target, and X86_FUNCTIONS lists the x86_64 functions", BuildTargets},
		{"no wildcard IAM", "no * in an allowed action or resource outside the allowlist; SQS consumers fenced to their own queue", NoWildcardIAM},
		{"batch item failures", "every SQS event has FunctionResponseTypes [ReportBatchItemFailures]", BatchItemFailures},
		{"visibility timeout", "a queue's VisibilityTimeout is at least 6 x its consumer's Timeout + MaximumBatchingWindowInSeconds", VisibilityTimeouts},
		{"dead-letter queues", "every queue that is not a DLQ has one with maxReceiveCount 5, and every DLQ has a depth alarm", DeadLetterQueues},
		{"queue settings", "every queue sets MaximumMessageSize and server-side encryption", QueueSettings},
		{"private buckets", "every bucket blocks public access (all four flags), is versioned and encrypted, takes TLS only, and no policy opens it", PrivateBuckets},
		{"queue policy sources", "S3 may send to a queue only from this account and from a bucket of this template (aws:SourceAccount and aws:SourceArn)", QueuePolicySources},
		{"dev login", "AuthDevLoginFunction exists only when Stage is development", DevLoginOnlyInDevelopment},
		{"canary in production", "every function publishes an alias; production deploys by canary, other stages all at once, with rollback alarms", CanaryInProduction},
		{"alarm metric limit", "a metric math alarm reads at most 10 metrics (CloudWatch's hard limit; a deploy fails above it)", AlarmMetricLimit},
		{"log retention", "every function logs to its own log group with a retention", LogRetention},
		{"secrets per function", "each function's policies grant ssm:GetParameters on exactly the parameters its SECRETS_SSM_NAMES lists; media functions get no session or Google secret", SecretsPerFunction},
		{"web distribution", "CloudFront: TLS only, CSP/HSTS/frame-ancestors headers, private buckets through origin access control, every API path to the API uncached", WebDistribution},
	}
}

// --- SQS events, queues, dead letters -----------------------------------------

// sqsEvent is one SQS event of a function.
type sqsEvent struct {
	function, name, queue string
	props                 map[string]any
}

func sqsEvents(t *Template) []sqsEvent {
	var out []sqsEvent
	for _, fn := range t.IDs(TypeFunction) {
		events, _ := t.FunctionProperties(fn)["Events"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(events)) {
			ev, _ := events[name].(map[string]any)
			if ev["Type"] != "SQS" {
				continue
			}
			props, _ := ev["Properties"].(map[string]any)
			q, _, _ := target(props["Queue"])
			out = append(out, sqsEvent{function: fn, name: name, queue: q, props: props})
		}
	}
	return out
}

// BatchItemFailures checks that every SQS event reports batch item
// failures, so one bad message does not send its whole batch back.
func BatchItemFailures(t *Template) error {
	var ps problems
	for _, ev := range sqsEvents(t) {
		if !slices.ContainsFunc(list(ev.props["FunctionResponseTypes"]), func(v any) bool { return v == "ReportBatchItemFailures" }) {
			ps.add(ev.function, "SQS event %s has no FunctionResponseTypes [ReportBatchItemFailures]", ev.name)
		}
	}
	return ps.err()
}

// VisibilityTimeouts checks AWS's rule for queues feeding Lambda: the
// queue's VisibilityTimeout is at least six times the function's Timeout
// plus the event's MaximumBatchingWindowInSeconds.
func VisibilityTimeouts(t *Template) error {
	var ps problems
	for _, ev := range sqsEvents(t) {
		if t.TypeOf(ev.queue) != TypeQueue {
			ps.add(ev.function, "SQS event %s: Queue is not !GetAtt <a queue of this template>.Arn", ev.name)
			continue
		}
		timeout, ok := number(t.FunctionProperties(ev.function)["Timeout"])
		if !ok {
			timeout = 3
		}
		window, _ := number(ev.props["MaximumBatchingWindowInSeconds"])
		visibility, ok := number(t.Properties(ev.queue)["VisibilityTimeout"])
		if !ok {
			visibility = 30
		}
		if need := 6*timeout + window; visibility < need {
			ps.add(ev.queue, "VisibilityTimeout %d s is under 6 x %s's Timeout (%d s) + batching window (%d s) = %d s",
				visibility, ev.function, timeout, window, need)
		}
	}
	return ps.err()
}

// redrive returns a queue's dead-letter queue and maxReceiveCount; ok is
// false without a RedrivePolicy. RedrivePolicy may be a map or a JSON
// string; the target must be !GetAtt <queue>.Arn.
func redrive(t *Template, queue string) (dlq string, maxReceive int, ok bool) {
	rp, exists := t.Properties(queue)["RedrivePolicy"]
	if !exists {
		return "", 0, false
	}
	m, _ := rp.(map[string]any)
	dlq, _, _ = target(m["deadLetterTargetArn"])
	maxReceive, _ = number(m["maxReceiveCount"])
	return dlq, maxReceive, true
}

// DeadLetterQueues checks that every queue that is not itself a dead-letter
// queue has one, with maxReceiveCount 5, and that every dead-letter queue
// has an alarm on its depth (ApproximateNumberOfMessagesVisible above 0)
// that notifies someone.
func DeadLetterQueues(t *Template) error {
	var ps problems
	queues := t.IDs(TypeQueue)
	isDLQ := map[string]bool{}
	for _, q := range queues {
		if dlq, _, ok := redrive(t, q); ok && dlq != "" {
			isDLQ[dlq] = true
		}
	}
	for _, q := range queues {
		if isDLQ[q] {
			continue
		}
		dlq, maxReceive, ok := redrive(t, q)
		switch {
		case !ok:
			ps.add(q, "no RedrivePolicy: every queue needs a dead-letter queue")
		case t.TypeOf(dlq) != TypeQueue:
			ps.add(q, "RedrivePolicy.deadLetterTargetArn is not !GetAtt <a queue of this template>.Arn")
		case maxReceive != 5:
			ps.add(q, "RedrivePolicy.maxReceiveCount is %d, want 5", maxReceive)
		}
	}
	for _, dlq := range slices.Sorted(maps.Keys(isDLQ)) {
		if t.TypeOf(dlq) == TypeQueue && !hasDepthAlarm(t, dlq) {
			ps.add(dlq, "no alarm on ApproximateNumberOfMessagesVisible above 0 for this dead-letter queue (with AlarmActions)")
		}
	}
	return ps.err()
}

// metric is one metric an alarm reads.
type metric struct {
	namespace, name string
	dimensions      map[string]any // dimension name -> value as written
}

// alarmMetrics returns the metrics an alarm reads: its own, or those of its
// metric math.
func alarmMetrics(props map[string]any) []metric {
	read := func(m map[string]any) metric {
		out := metric{dimensions: map[string]any{}}
		out.namespace, _ = m["Namespace"].(string)
		out.name, _ = m["MetricName"].(string)
		for _, d := range list(m["Dimensions"]) {
			dm, _ := d.(map[string]any)
			if n, ok := dm["Name"].(string); ok {
				out.dimensions[n] = dm["Value"]
			}
		}
		return out
	}
	if _, ok := props["MetricName"]; ok {
		return []metric{read(props)}
	}
	var out []metric
	for _, q := range list(props["Metrics"]) {
		qm, _ := q.(map[string]any)
		stat, _ := qm["MetricStat"].(map[string]any)
		if m, ok := stat["Metric"].(map[string]any); ok {
			out = append(out, read(m))
		}
	}
	return out
}

// MaxAlarmMetrics is CloudWatch's hard limit of metrics one metric math
// alarm may read ("Limits that apply to alarms based on metric math
// expressions" in the CloudWatch user guide).
const MaxAlarmMetrics = 10

// AlarmMetricLimit checks that no alarm reads more than [MaxAlarmMetrics]
// metrics: CloudFormation would refuse it at deploy time, far from the
// change that added the eleventh function to a route group's alarm.
func AlarmMetricLimit(t *Template) error {
	var ps problems
	for _, id := range t.IDs(TypeAlarm) {
		if n := len(alarmMetrics(t.Properties(id))); n > MaxAlarmMetrics {
			ps.add(id, "reads %d metrics, over CloudWatch's limit of %d per alarm: split it into alarms of its own", n, MaxAlarmMetrics)
		}
	}
	return ps.err()
}

func hasDepthAlarm(t *Template, dlq string) bool {
	for _, a := range t.IDs(TypeAlarm) {
		props := t.Properties(a)
		threshold, _ := scalar(props["Threshold"])
		op, _ := props["ComparisonOperator"].(string)
		above0 := (op == "GreaterThanThreshold" && threshold == "0") || (op == "GreaterThanOrEqualToThreshold" && threshold == "1")
		if !above0 || len(list(props["AlarmActions"])) == 0 {
			continue
		}
		for _, m := range alarmMetrics(props) {
			q, attr, _ := target(m.dimensions["QueueName"])
			if m.namespace == "AWS/SQS" && m.name == "ApproximateNumberOfMessagesVisible" && q == dlq && attr == "QueueName" {
				return true
			}
		}
	}
	return false
}

// QueueSettings checks that every queue sets MaximumMessageSize (rather
// than inheriting whatever SQS defaults to) and is encrypted at rest
// (SqsManagedSseEnabled, or a KMS key).
func QueueSettings(t *Template) error {
	var ps problems
	for _, q := range t.IDs(TypeQueue) {
		props := t.Properties(q)
		if _, ok := number(props["MaximumMessageSize"]); !ok {
			ps.add(q, "MaximumMessageSize is not set")
		}
		if !truthy(props["SqsManagedSseEnabled"]) && props["KmsMasterKeyId"] == nil {
			ps.add(q, "not encrypted: set SqsManagedSseEnabled: true (or KmsMasterKeyId)")
		}
	}
	return ps.err()
}

// --- buckets ------------------------------------------------------------------

// PrivateBuckets checks that every bucket blocks all public access (the
// four PublicAccessBlockConfiguration flags), grants none through a canned
// ACL or a bucket policy allowing Principal "*", is versioned and is
// encrypted.
func PrivateBuckets(t *Template) error {
	var ps problems
	for _, b := range t.IDs(TypeBucket) {
		props := t.Properties(b)
		pab, _ := props["PublicAccessBlockConfiguration"].(map[string]any)
		for _, flag := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if !truthy(pab[flag]) {
				ps.add(b, "PublicAccessBlockConfiguration.%s is not true", flag)
			}
		}
		if acl, ok := props["AccessControl"].(string); ok && acl != "Private" && acl != "BucketOwnerFullControl" {
			ps.add(b, "AccessControl %s opens the bucket", acl)
		}
		if v, _ := props["VersioningConfiguration"].(map[string]any); v["Status"] != "Enabled" {
			ps.add(b, "VersioningConfiguration.Status is not Enabled")
		}
		if props["BucketEncryption"] == nil {
			ps.add(b, "no BucketEncryption")
		}
	}
	tlsOnly := map[string]bool{}
	for _, pol := range t.IDs(TypeBucketPolicy) {
		props := t.Properties(pol)
		bucket, _, _ := target(props["Bucket"])
		doc, _ := props["PolicyDocument"].(map[string]any)
		for i, st := range list(doc["Statement"]) {
			s, _ := st.(map[string]any)
			if s["Effect"] == "Allow" && publicPrincipal(s["Principal"]) {
				ps.add(bucket, "bucket policy %s, statement %s, allows Principal \"*\"", pol, sid(s, i))
			}
			if deniesInsecureTransport(s, bucket) {
				tlsOnly[bucket] = true
			}
		}
	}
	for _, b := range t.IDs(TypeBucket) {
		if !tlsOnly[b] {
			ps.add(b, "no bucket policy denies s3:* on the bucket and its objects when aws:SecureTransport is false (TLS only)")
		}
	}
	return ps.err()
}

// deniesInsecureTransport reports whether s denies every S3 action to
// everyone on the bucket and on its objects over plain HTTP.
func deniesInsecureTransport(s map[string]any, bucket string) bool {
	if s["Effect"] != "Deny" || !publicPrincipal(s["Principal"]) || !slices.Contains(list(s["Action"]), any("s3:*")) {
		return false
	}
	cond, _ := s["Condition"].(map[string]any)
	b, _ := cond["Bool"].(map[string]any)
	if v, _ := scalar(b["aws:SecureTransport"]); v != "false" {
		return false
	}
	var onBucket, onObjects bool
	for _, r := range list(s["Resource"]) {
		if id, attr, ok := target(r); ok && id == bucket && attr == "Arn" {
			onBucket = true
		}
		if m, _ := r.(map[string]any); m != nil {
			if sub, _ := m["Fn::Sub"].(string); sub == "${"+bucket+".Arn}/*" {
				onObjects = true
			}
		}
	}
	return onBucket && onObjects
}

// QueuePolicySources checks that every queue policy statement letting S3
// send (Principal Service s3.amazonaws.com) is limited to this account
// (aws:SourceAccount) and to a bucket of this template (aws:SourceArn: the
// bucket's ARN, or the name CloudFormation gives it, <stack>-<logicalid>-*).
func QueuePolicySources(t *Template) error {
	var ps problems
	for _, pol := range t.IDs("AWS::SQS::QueuePolicy") {
		doc, _ := t.Properties(pol)["PolicyDocument"].(map[string]any)
		for i, st := range list(doc["Statement"]) {
			s, _ := st.(map[string]any)
			principal, _ := s["Principal"].(map[string]any)
			if s["Effect"] != "Allow" || !slices.Contains(list(principal["Service"]), any("s3.amazonaws.com")) {
				continue
			}
			cond, _ := s["Condition"].(map[string]any)
			eq, _ := cond["StringEquals"].(map[string]any)
			if id, _, ok := target(eq["aws:SourceAccount"]); !ok || id != "AWS::AccountId" {
				ps.add(pol, "statement %s lets S3 send without aws:SourceAccount = AWS::AccountId", sid(s, i))
			}
			var source any
			for _, op := range []string{"ArnEquals", "ArnLike"} {
				if m, _ := cond[op].(map[string]any); m["aws:SourceArn"] != nil {
					source = m["aws:SourceArn"]
				}
			}
			if !namesBucket(t, source) {
				ps.add(pol, "statement %s lets S3 send without aws:SourceArn naming a bucket of this template (any bucket of the account could)", sid(s, i))
			}
		}
	}
	return ps.err()
}

func namesBucket(t *Template, v any) bool {
	if id, attr, ok := target(v); ok {
		return attr == "Arn" && t.TypeOf(id) == TypeBucket
	}
	m, _ := v.(map[string]any)
	sub, _ := m["Fn::Sub"].(string)
	for _, b := range t.IDs(TypeBucket) {
		if sub == "arn:${AWS::Partition}:s3:::${AWS::StackName}-"+strings.ToLower(b)+"-*" {
			return true
		}
	}
	return false
}

func publicPrincipal(p any) bool {
	if p == "*" {
		return true
	}
	m, _ := p.(map[string]any)
	return slices.Contains(list(m["AWS"]), any("*"))
}

// --- stages: dev login, deployments ---------------------------------------------

// DevLoginFunction is the logical id of the development-only sign-in.
const DevLoginFunction = "AuthDevLoginFunction"

// DevLoginOnlyInDevelopment checks that [DevLoginFunction] is in the
// template and exists in the development stage and in no other.
func DevLoginOnlyInDevelopment(t *Template) error {
	var ps problems
	if t.TypeOf(DevLoginFunction) != TypeFunction {
		ps.add(DevLoginFunction, "not in the template")
		return ps.err()
	}
	stages := t.StageValues()
	if !slices.Contains(stages, "development") {
		ps.add("Stage", "the Stage parameter does not allow development (AllowedValues %v)", stages)
	}
	for _, stage := range stages {
		has, err := t.Stage(map[string]string{"Stage": stage}).Has(DevLoginFunction)
		switch {
		case err != nil:
			ps.add(DevLoginFunction, "Condition: %v", err)
		case has && stage != "development":
			ps.add(DevLoginFunction, "exists when Stage is %s; its Condition must hold only for development", stage)
		case !has && stage == "development":
			ps.add(DevLoginFunction, "missing when Stage is development")
		}
	}
	return ps.err()
}

// MaxRollbackAlarms is CodeDeploy's limit of alarms per deployment group.
const MaxRollbackAlarms = 10

// CanaryInProduction checks every function in every stage: it publishes an
// alias (AutoPublishAlias); its DeploymentPreference Type is a Canary* in
// production and AllAtOnce elsewhere; it lists 1 to 10 alarms of this
// template as rollback triggers, none of which reads the HTTP API's own
// metrics (that would make the dependency cycle API -> alias -> deployment
// group -> alarm -> API).
func CanaryInProduction(t *Template) error {
	var ps problems
	for _, stage := range t.StageValues() {
		st := t.Stage(map[string]string{"Stage": stage})
		for _, fn := range t.IDs(TypeFunction) {
			if has, err := st.Has(fn); err != nil || !has {
				continue // DevLoginOnlyInDevelopment reports a bad Condition
			}
			resolved, err := st.Resolve(t.FunctionProperties(fn))
			if err != nil {
				ps.add(fn, "stage %s: %v", stage, err)
				continue
			}
			props, _ := resolved.(map[string]any)
			checkDeployment(t, st, fn, props, &ps)
		}
	}
	return ps.err()
}

func checkDeployment(t *Template, st *Stage, fn string, props map[string]any, ps *problems) {
	stage := st.Name()
	if alias, _ := props["AutoPublishAlias"].(string); alias == "" {
		ps.add(fn, "stage %s: no AutoPublishAlias, so there is no alias to shift traffic on", stage)
	}
	dp, _ := props["DeploymentPreference"].(map[string]any)
	if dp == nil {
		ps.add(fn, "stage %s: no DeploymentPreference", stage)
		return
	}
	if enabled, set := dp["Enabled"]; set && !truthy(enabled) {
		ps.add(fn, "stage %s: DeploymentPreference is not Enabled", stage)
	}
	typ, _ := dp["Type"].(string)
	switch {
	case stage == "production" && !strings.HasPrefix(typ, "Canary"):
		ps.add(fn, "stage production: DeploymentPreference.Type is %q, want a Canary* type", typ)
	case stage != "production" && typ != "AllAtOnce":
		ps.add(fn, "stage %s: DeploymentPreference.Type is %q, want AllAtOnce", stage, typ)
	}
	alarms := list(dp["Alarms"])
	if len(alarms) == 0 || len(alarms) > MaxRollbackAlarms {
		ps.add(fn, "stage %s: DeploymentPreference.Alarms lists %d alarms, want 1 to %d", stage, len(alarms), MaxRollbackAlarms)
	}
	for _, a := range alarms {
		id, _, ok := target(a)
		if has, _ := st.Has(id); !ok || t.TypeOf(id) != TypeAlarm || !has {
			ps.add(fn, "stage %s: rollback alarm %s is not !Ref to an alarm of this stage", stage, compact(a))
			continue
		}
		for _, ref := range references(t.Properties(id)) {
			if t.TypeOf(ref) == TypeHTTPAPI {
				ps.add(fn, "rollback alarm %s refers to %s, a dependency cycle (API -> alias -> deployment group -> alarm -> API)", id, ref)
			}
		}
	}
}

// LogRetention checks that every function sends its logs to a log group of
// its own (LoggingConfig.LogGroup: !Ref to an AWS::Logs::LogGroup with the
// same Condition) that sets RetentionInDays; Lambda's default group keeps
// logs forever.
func LogRetention(t *Template) error {
	var ps problems
	owner := map[string]string{}
	for _, fn := range t.IDs(TypeFunction) {
		lc, _ := t.FunctionProperties(fn)["LoggingConfig"].(map[string]any)
		lg, _, ok := target(lc["LogGroup"])
		if !ok || t.TypeOf(lg) != TypeLogGroup {
			ps.add(fn, "LoggingConfig.LogGroup is not !Ref to an AWS::Logs::LogGroup of this template")
			continue
		}
		if other, dup := owner[lg]; dup {
			ps.add(fn, "log group %s is also %s's", lg, other)
		}
		owner[lg] = fn
		if _, ok := t.Properties(lg)["RetentionInDays"]; !ok {
			ps.add(lg, "no RetentionInDays (%s's logs would be kept forever)", fn)
		}
		if t.Resource(lg)["Condition"] != t.Resource(fn)["Condition"] {
			ps.add(lg, "Condition %v differs from %s's %v", t.Resource(lg)["Condition"], fn, t.Resource(fn)["Condition"])
		}
	}
	return ps.err()
}

func sid(statement map[string]any, i int) string {
	if s, ok := statement["Sid"].(string); ok && s != "" {
		return s
	}
	return fmt.Sprintf("#%d", i+1)
}
