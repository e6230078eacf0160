// Package trace builds one job's timeline for `redub trace`: what happened
// to it, in time order, from the database and, when given, from the logs.
//
// The database knows, with their times: the upload request (the asset row's
// created_at), the S3 event that ingest turned into a ready or rejected asset
// (its updated_at), the job's creation, start and end, each step's last
// enqueue, first start, last progress (for a step still running), end,
// attempts and error, every paid provider call (provider_calls: operation,
// status, attempts, usage, from its claim to its last update), every
// output and, for a step split into parts, each part's first start and end;
// Write prints those parts as a table after the timeline (part, range of
// the media, status, attempts, billed milliseconds, last error). A step's row keeps the latest enqueue but the first start, so a step
// that ran more than once shows its first start and its last enqueue; the
// logs fill in the attempts in between.
//
// Log lines are JSON objects, one a line, as the functions write them (see
// shared/obs): the `make dev` output ("TranscodeFunction | {...}"), plain JSON
// lines, or CloudWatch events as JSON lines (`aws logs filter-log-events ...
// | jq -c '.events[]'`, or a Logs Insights export), whose "message" (or
// "@message") holds the function's line. A line belongs to the job when its
// job_id is the job's id, or its trace_id the job's trace id. Lines that are
// not JSON, or carry no time, are skipped.
package trace
