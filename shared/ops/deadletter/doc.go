// Package deadletter inspects SQS dead-letter queues and moves their messages
// back to the queues they came from, for `redub dlq`. It speaks plain SQS, so
// it works the same against the local stack's stand-in and real AWS.
//
// # Finding queues
//
// A queue's dead-letter queue is whatever its RedrivePolicy names, as the SQS
// endpoint reports it (GetQueueAttributes), not what the template says: the
// endpoint is what the messages actually went through. [Discover] pairs every
// queue that has a redrive policy with its dead-letter queue; [Resolve] finds
// one pair from a queue URL, a queue name, or a template logical id of either
// queue (the local stack names queues after their logical ids; CloudFormation
// names them <stack>-<LogicalId>-<suffix>).
//
// # Peeking
//
// [Peek] receives messages with a short visibility timeout and never deletes
// them; once it has them all it makes them visible again at once
// (ChangeMessageVisibility 0), so a redrive right after a peek finds them. A
// peek adds one to each message's receive count, which matters nowhere: a
// dead-letter queue has no redrive policy of its own.
//
// # Redrive: no loss, no duplication
//
// [Redrive] receives a batch from the dead-letter queue, sends each message to
// its source queue (SendMessageBatch, with the same body and message
// attributes) and only then deletes from the dead-letter queue
// (DeleteMessageBatch) the messages the send reported as sent:
//
//   - A message whose send failed, or that the batch answer does not mention,
//     is never deleted: it stays in the dead-letter queue (visible again when
//     its visibility timeout ends) and is listed in [Report.NotSent]. Nothing is
//     lost.
//   - A message sent whose delete then failed is in both queues. Redrive
//     retries the delete when it receives that message again in the same run
//     and never sends it twice in one run; what is still in both queues at the
//     end is listed in [Report.NotDeleted]. A later run would send it again.
//     That duplicate is harmless in this pipeline because every step is
//     idempotent on (job, step): a message for a step that already ran only
//     makes sure the next step was sent (see docs/pipeline.md).
//   - A call that fails as a whole (network, permissions) stops the run after
//     the batch in hand has been dealt with, so a broken endpoint does not
//     cycle the whole queue through failures.
//
// Run one redrive per queue at a time: two at once could each receive a
// message whose visibility timeout ran out under the other and send it twice.
//
// # Jobs failed by the sweeper
//
// The sweeper fails a job whose message reached a dead-letter queue, and a
// step drops a message for a failed job. So a redriven message only runs again
// if its job is reset first: with a [Resetter] (redub dlq redrive
// --reset-jobs), Redrive resets the job of each step message after receiving
// it and before sending it. While the message is received it is invisible, so
// the sweeper cannot see it and fail the job again; and the consumer cannot
// get the message before the job is reset, which would drop it. If the send
// then fails, the message goes back to the dead-letter queue and the sweeper
// fails the job again on its next run: the two stay consistent. [JobReset]
// resets a job only when it failed at the message's step, and not when it
// was canceled; everything else is left as it is and reported.
package deadletter
