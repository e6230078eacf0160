// Package s3 stands in for Amazon S3 and its event notifications in the
// local stack: it runs versitygw (an S3 gateway that checks SigV4, so
// presigned URLs behave as on AWS) over a plain directory, and a Relay that
// turns versitygw's webhook posts into the events S3 sends and delivers them
// to the queues and functions the template's notification configuration
// names.
//
// # Wiring
//
// Start the HTTP server that hosts the Relay (mounted at /s3-events) before
// the gateway: versitygw posts a test event to its webhook as it starts and
// exits when nothing answers there.
//
//	relay := s3.NewRelay(routes, sqsClient, invoker, s3.RelayOptions{Region: region, Objects: s3Client})
//	mux.Handle("/s3-events", relay)
//	gw, err := s3.StartGateway(ctx, s3.GatewayOptions{..., WebhookURL: base + "/s3-events"})
//	...
//	gw.Stop(ctx)
//	relay.Close(ctx)
//
// Clients talk to [Gateway.Endpoint] path-style (BaseEndpoint plus
// UsePathStyle): versitygw takes the bucket of an event from the first
// segment of the request path.
//
// # How versitygw v1.8.0's events differ from S3's, and what the Relay does
//
//	field                  versitygw posts                        S3 sends (and the Relay)
//	eventVersion           "2.2"                                  "2.1"
//	eventTime              whole seconds, server's time zone      UTC with milliseconds (the Relay's arrival time)
//	eventName              "s3:ObjectCreated:Put"                 "ObjectCreated:Put"
//	                       "s3:ObjectRemoved:DeleteObjects"       "ObjectRemoved:Delete", one per key
//	userIdentity           {"PrincipalId": access key}            {"principalId": ...} (also in ownerIdentity)
//	responseElements       both ids empty                         generated ids of S3's shape
//	s3.configurationId     "webhook-global"                       the route's id (Route.ID, or derived from the route)
//	s3.bucket.arn          "arn:aws:s3:::/<bucket>/<key>"         "arn:aws:s3:::<bucket>"
//	s3.object.key          raw key                                URL-encoded: space as '+', UTF-8 percent-encoded, '/' kept
//	s3.object.size         0 for CompleteMultipartUpload, Copy    the object's size (read with HeadObject when RelayOptions.Objects is set)
//	s3.object.eTag         with quotes; null on deletes           without quotes; left out on deletes
//	s3.object.versionId    null or "" when unversioned            left out when unversioned
//	s3.object.sequencer    a process-wide counter "1", "2", ...   18 hex digits; see below
//	glacierEventData       always, empty                          left out
//	records per post       always one                             one message per record, whatever a post holds
//
// The sequencer is the Relay's epoch (Unix milliseconds, 11 hex digits)
// followed by versitygw's counter (7 or more hex digits). versitygw sends
// each post from its own goroutine, so posts can arrive out of order; its
// counter is taken as the event happens, so the order it gives is right. The
// counter starts at 1 again whenever versitygw restarts; the test event it
// posts then moves the epoch on, so sequencers keep increasing for every key
// across restarts, as S3 promises.
//
// # Delivery
//
// S3 matches a notification's prefix and suffix against the raw key,
// case-sensitively, and event types such as "s3:ObjectCreated:*" against
// the event name; an event goes to every matching route. Queue routes get
// one SendMessage per record with the body {"Records":[record]}, retried
// briefly. Function routes are invoked as Lambda's asynchronous invocation
// does: a failed invocation is retried twice, with a pause (1 s, then 2 s
// here; Lambda waits minutes); a throttled one is retried for a few minutes
// without using up those retries. The Relay answers each webhook post at
// once (versitygw gives up after 3 s and never retries) and delivers from a
// bounded queue; what overflows it is dropped and logged.
//
// # Known gaps
//
//   - Browser POST uploads (PostObject): versitygw takes the key from the
//     URL path, which holds only the bucket, so its event has no key. The
//     Relay drops such events with a warning.
//   - DeleteObjects: versitygw posts an event for every key in the request,
//     including keys it failed to delete. Deletes in versioned buckets are
//     reported as ObjectRemoved:Delete, never DeleteMarkerCreated.
//   - Bucket notification configuration is not stored in versitygw (it does
//     not implement PutBucketNotificationConfiguration); routes come from
//     the template. S3's s3:TestEvent is not forwarded.
package s3
