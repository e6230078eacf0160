// Package stack starts and stops the whole local AWS stack behind `make dev`:
// Postgres + PgBouncer, migrations, versitygw (S3) with its event relay,
// local-aws-sqs with a poller per SQS event source, a pool of aws-lambda-rie
// processes per function, the HTTP API gateway and the scheduler, all read
// from template.yaml. A control endpoint serves `redub dev status`, `invoke`
// and `fire` while it runs.
package stack
