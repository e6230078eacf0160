// Package e2e holds the end-to-end tests of the product: they start the
// local stack from template.yaml (real functions under aws-lambda-rie, the
// gateway, versitygw, local-aws-sqs, Postgres behind PgBouncer) and talk to it
// like a client, validating every HTTP response against docs/openapi.yaml.
package e2e
