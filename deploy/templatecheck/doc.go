// Package templatecheck checks the rules the deployment relies on in the
// repository's SAM template.yaml, which nothing on this machine can deploy:
// least-privilege IAM, queues with dead-letter queues and alarms, a private
// versioned bucket, canary deploys in production, a development-only dev
// login, log retention, build targets that match the template, and Lambda's
// 250 MB unzipped limit for a function with its layers.
//
// # Reading the template
//
// The template is read by the local stack's own reader, local/template, so a
// rule the local stack follows is the rule these checks enforce: its
// ExpandYAML turns the YAML, short-form tags included, into JSON with every
// intrinsic written long (!Ref X is {"Ref": "X"}) and none resolved.
// [Template] holds that tree as plain maps, so a test can break a copy of the
// real template ([Template.Clone], then edit the map) and feed it to a check.
//
// The stages differ only through Conditions and Fn::If. [Template.Stage]
// evaluates those for one set of parameter values with local/template's
// Evaluator, and resolves Ref to a parameter, Fn::FindInMap and
// AWS::NoValue; every other intrinsic (Ref to a resource, Fn::GetAtt,
// Fn::Sub) is left as written, so a check can still tell which resource a
// value names. [Template.FunctionProperties] merges Globals.Function into a
// function with local/template's MergeGlobals, the SAM transform's rule.
//
// # Checks
//
// Each check is a function from a *Template to an error: nil when the rule
// holds, otherwise one [*Problem] per violation, joined with errors.Join,
// each naming the resource (a logical id, or a file such as the Makefile).
// [Checks] lists those that need no build; [UnzippedSizes] builds the layers
// and the functions that use them with the Makefile, which takes seconds.
//
// [Transform] runs the SAM transform itself (aws-sam-translator, through
// cfn-lint's offline transform in scripts/sam-transform.py) and
// [TransformedFunctionPolicies] checks what SAM really deploys: the roles it
// writes, with every policy template expanded and every managed policy it
// attaches. `make lint` runs cfn-lint on both templates.
//
// Wildcards in IAM are refused except for the entries of [Allowlist], each
// with the reason AWS forces it. The list also records the managed policies
// the SAM transform attaches outside the template, and the guard this
// package demands for the one of them that matters: SAM's SQS event
// attaches AWSLambdaSQSQueueExecutionRole (receive and delete on every
// queue), so every SQS consumer must deny those actions on all queues but
// its own.
package templatecheck
