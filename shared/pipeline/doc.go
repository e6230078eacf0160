// Package pipeline runs job steps. Each step is its own SQS-driven Lambda;
// Runner.Handle is what every step function calls for a message:
//
//  1. claim: lock the job and the step row; drop duplicates (a step that
//     already succeeded only makes sure its successor was enqueued), skip
//     canceled or ended jobs, refuse a step another worker holds a live
//     lease on (the message comes back later), and mark the step running;
//  2. work: the step's Work runs with a deadline below the function's
//     timeout, writing progress and checking for cancellation as it goes,
//     and writing outputs under deterministic keys jobs/<job>/<step>/...;
//  3. finish: in one transaction record outputs, usage and timings, mark the
//     step succeeded and queue the next step (or mark the job succeeded);
//     after the commit send the next step's message.
//
// Failures are sorted into three kinds: cancellation (the step ends
// canceled), permanent errors (bad input, refused media, a provider's 4xx:
// the job fails at once with a reason a person can read) and transient
// errors (the message comes back after the visibility timeout, until the
// step has used its attempts; then the job fails).
//
// A step whose work grows with the media's length may implement Parted
// (parts.go): its whole-step message then splits it into parts, each its
// own message, invocation and lease (job_parts); the last part to finish
// sends the merge, which records the step's outputs as Work would. Parts
// retry, fail and stop on their own, with the rules above applied per part.
package pipeline
