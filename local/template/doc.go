// Package template reads the repository's SAM template.yaml into the model the
// local stack runs: functions with their settings and triggers, HTTP API
// routes, SQS queues and S3 buckets. The gateway, the SQS pollers, the S3 relay
// and the scheduler all read this model, so what runs under `make dev` is what
// the template deploys.
//
// # Parsing and intrinsics
//
// goformation (github.com/awslabs/goformation/v7) turns the YAML, short-form
// tags included (!Ref, !GetAtt X.Arn, !Sub), into JSON, and its intrinsic
// processor walks that JSON. Every intrinsic the template uses is handled here
// through IntrinsicHandlerOverrides, so references resolve to LOCAL values
// (see [Locals]) instead of goformation's placeholders:
//
//	Ref parameter          its value (override, else Default)
//	Ref queue              Locals.QueueURL(queue name)
//	Ref bucket             the bucket name
//	Ref anything else      its logical id (a function's local name)
//	GetAtt Q.Arn           arn:aws:sqs:<region>:<account>:<name>
//	GetAtt Q.QueueName     the name; GetAtt Q.QueueUrl: the URL
//	GetAtt B.Arn           arn:aws:s3:::<name>
//	GetAtt F.Arn           arn:aws:lambda:<region>:<account>:function:<logical id>
//	AWS::Region, AWS::AccountId, AWS::StackName   from Locals
//	AWS::Partition, AWS::URLSuffix                derived from the region
//
// Fn::Sub (both forms, ${!Literal} included), Fn::Join, Fn::Select, Fn::Split,
// Fn::FindInMap, Fn::Base64, Fn::GetAZs (three made-up zones) and Fn::If with
// the Conditions section (Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition) are
// evaluated; a resource whose Condition is false is left out of the model.
// Fn::ImportValue, Fn::Cidr and Fn::Transform are errors. GetAtt on a
// resource type the local stack does not model yields the placeholder
// "<LogicalId>.<Attribute>"; SAM's implicit resources (ServerlessHttpApi,
// <Function>Role, <Function>.Alias) resolve too.
//
// Only goformation's intrinsics package is used. Its typed SAM and
// CloudFormation structs are not: they reject any property their schema lacks
// (LoggingConfig fails a whole template), pick an event's type by a size
// heuristic rather than its Type, drop SQS event settings
// (MaximumBatchingWindowInSeconds, FunctionResponseTypes, ScalingConfig), and
// importing them compiles some 250 packages. The resolved JSON is decoded into
// this package's own lenient structs instead, which also accept numbers
// written as strings, as CloudFormation does.
//
// # What SAM does that is repeated here
//
//   - Globals.Function is merged into every function the way the SAM transform
//     merges it: maps deeply (function wins), lists appended, scalars replaced.
//     Because lists are appended, Architectures set both in Globals and on a
//     function is an error rather than a silent pick.
//   - An S3 event on a function is kept in [Function.S3], not added to
//     [Bucket.Notifications] as the transform adds it to the bucket, so each
//     trigger appears once; overlaps between the two are checked as S3 checks
//     them.
//   - A function's folder follows the Makefile: HealthReadyFunction builds from
//     functions/health-ready.
//
// # Errors
//
// Parse reports every problem it finds, not just the first, as [*Error]
// values joined with errors.Join. Each names the place (a resource, an event,
// a parameter) and wraps one of the Err* sentinels, so callers and tests use
// errors.Is and errors.As rather than comparing strings.
package template
