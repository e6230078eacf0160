// Package webhook owns the webhook tables (webhooks, webhook_deliveries,
// webhook_attempts): a user's endpoints, the events sent to them and each
// try. It signs every delivery as the Standard Webhooks specification says
// (webhook-id, webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256
// of id.timestamp.body>" with the endpoint's "whsec_<base64>" secret).
//
// The flow: a job's end writes a job_events row in the transaction that ends
// it (shared/job). The sweeper's Dispatch turns each such row into one
// delivery per subscribed endpoint and marks it dispatched in one
// transaction, then sends one message per delivery to the webhook queue. The
// delivery function (Deliverer) claims the delivery, posts it and records the
// attempt; a failure hands the message back after the next wait of
// WEBHOOK_RETRY_SECONDS, and when the last one has failed the delivery fails
// and the endpoint is disabled with the reason. A delivery id is the
// webhook-id of every attempt, so a receiver can drop repeats.
//
// Every request goes through Client, which refuses what could reach the
// inside of our network (SSRF): https only (http://127.0.0.1 in development
// alone); private, loopback, link-local and other special addresses refused
// after DNS resolution, with the connection made to the very address that
// was checked (no second lookup for DNS rebinding to change); no redirects,
// a timeout, and a cap on the response read.
package webhook
