// Package lambdarun is the one bootstrap every function's main.go calls.
//
// Main reads and validates the config once per cold start (environment,
// .env.local when present, SSM Parameter Store under /redub/<stage>/ in AWS),
// builds the JSON logger and the Sentry reporter, offers a lazily created
// database pool and AWS config, asks the function for its handler, and
// starts the Lambda runtime with a SIGTERM hook that closes the pool and
// flushes Sentry. A config error stops the cold start with one log line that
// names the variable; nothing reaches a caller but the platform's own error.
//
// The adapters turn each trigger into a plain Go call with ids in the context
// for every log line and Sentry event, recover panics, and flush Sentry before
// the invocation returns:
//   - HTTP: API Gateway HTTP API payload 2.0 events to a net/http handler;
//   - SQS: one call per message, failures reported as batch item failures;
//   - S3 and Scheduled: one call per record or event.
package lambdarun
