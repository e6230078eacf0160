// Package cost records what each job used of every billable thing and prices
// it. It owns the cost_usage table.
//
// A step invocation's usage is recorded once its outcome is (Meter, the
// runner's hook): its billed Lambda duration at the function's memory and
// architecture, its Lambda request, the S3 requests and stored GB-months of
// the outputs it wrote (for OUTPUT_RETENTION_DAYS), its SQS requests, and the
// provider calls it paid for, read from the ledger (shared/ledger keeps
// provider_calls; this package only reads it through Ledger.Calls). Reused
// calls are not paid again and are not recorded again.
//
// Usage is stored as quantities, not dollars: Estimate turns them into a
// breakdown with the price table in force (Default, overridden by
// PRICES_JSON), so a corrected price reprices every job. Offline engines
// (pocketsphinx, espeak-ng) cost only the Lambda time they take.
package cost
