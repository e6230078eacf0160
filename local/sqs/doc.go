// Package sqs is the local stack's SQS: it runs the local-aws-sqs stand-in
// (npm, installed by `make tools`) under node, creates the template's queues
// with their dead-letter queues, and plays Lambda's SQS event source mapping
// with a [Poller] per function and queue.
//
// Only [StartServer] is specific to the stand-in. [EnsureQueues], [Depths]
// and [Poller] speak plain SQS through an *sqs.Client, so ElasticMQ,
// LocalStack or real SQS can take its place (AWS_ENDPOINT_URL_SQS).
//
// # The event source mapping
//
// A poller short-polls (WaitTimeSeconds 0) for up to min(BatchSize, 10)
// messages at a time, receiving again to fill a larger batch. Without a
// batching window it invokes as soon as messages arrive; with one it gathers
// until the batch is full or the window, counted from the first message, has
// passed. While the queue is busy an empty poll is repeated after 20 ms; after
// two quiet seconds the pause grows to 100 ms.
//
// Up to MaxConcurrency batches are in flight at once: one receive loop takes a
// slot before it receives, so no message is held that cannot be invoked at
// once. The event is Lambda's SQS event, record for record. After a successful
// invoke every message is deleted, or, with ReportBatchItemFailures, every
// message not listed in batchItemFailures; an unparseable report or an
// itemIdentifier outside the batch fails the whole batch, as in Lambda. After
// a function error, timeout, crash or throttle nothing is deleted: the batch
// comes back once its visibility timeout passes, and the queue's redrive
// policy moves a message to its dead-letter queue after maxReceiveCount
// receives. A throttle also pauses receiving for a second.
//
// FIFO queues are polled one batch at a time (see "Flaws"), so messages keep
// their order while batches succeed; a failed batch's messages may come back
// behind later ones of the same group.
//
// # Flaws of local-aws-sqs 2.0.2, and what this package does about them
//
//   - A long poll holds its answer until the batch is full or the wait is
//     over, so the poller never long-polls. A short poll that returns fewer
//     messages than asked for still takes 40 ms, which sets the hop latency:
//     about 35 ms (p50) from SendMessage to the handler's start while the
//     queue is busy, up to about 150 ms for the first message after a quiet
//     spell.
//   - ReceiveMessage ignores MessageSystemAttributeNames; the poller also
//     sends the deprecated AttributeNames, so ApproximateReceiveCount and the
//     other attributes reach the event.
//   - ChangeMessageVisibility adds to ApproximateReceiveCount, which would
//     push messages that functions hand back with a backoff to the
//     dead-letter queue early. server.mjs mends that one statement as it
//     loads the package (and refuses to start if it cannot), so only receives
//     count, as in SQS. The poller itself never calls it.
//   - Redrive to the dead-letter queue works: a message is moved when its
//     visibility timeout ends after its maxReceiveCount-th receive, with its
//     MessageId and attributes and a DeadLetterQueueSourceArn attribute (but
//     a new SentTimestamp). The poller has no redrive of its own.
//   - ApproximateNumberOfMessages counts in-flight messages too (SQS counts
//     only those ready to receive), so [Depth.Visible] includes
//     [Depth.InFlight] there.
//   - FIFO message groups are not locked while a message of the group is in
//     flight.
//   - With WaitTimeSeconds 0 the SDK sends no WaitTimeSeconds at all, so a
//     queue's own ReceiveMessageWaitTimeSeconds would apply; [EnsureQueues]
//     leaves it at 0.
//   - Queues live in the node process's memory and are gone when it stops.
package sqs
