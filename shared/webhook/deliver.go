package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/redub/redub/shared/queue"
)

// Deliverer makes the attempts of the deliveries on the webhook queue.
type Deliverer struct {
	Store   *Store
	Client  *Client
	Queue   DelayedSender
	Retries []time.Duration // the waits before each retry (config.Webhooks.Retries)
	Log     *slog.Logger
	Now     func() time.Time // nil: time.Now
}

func (d *Deliverer) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

// DelayedSender enqueues a delivery's next attempt after a delay (SQS's
// DelaySeconds, at most MaxQueueDelay).
type DelayedSender interface {
	SendAfter(ctx context.Context, deliveryID uuid.UUID, delay time.Duration) error
}

// MaxQueueDelay is the longest delay SQS gives a message it is sent; a
// longer retry wait is kept in the delivery row for the sweeper.
const MaxQueueDelay = 15 * time.Minute

// Handle makes one attempt of the message's delivery and consumes the
// message. After a failed attempt the delivery waits the next of Retries:
// a wait up to MaxQueueDelay is a new message sent with that delay, a longer
// one is the row's next_attempt_at, which the sweeper sends when due
// (SQS's maxReceiveCount then only counts crashes). When the last wait is
// used up the delivery fails and the endpoint is disabled with the reason.
// It returns an error (the message comes back) only while another attempt
// holds the delivery or the database cannot be reached.
func (d *Deliverer) Handle(ctx context.Context, msg events.SQSMessage) error {
	var m Message
	if json.Unmarshal([]byte(msg.Body), &m) != nil || m.DeliveryID == uuid.Nil {
		d.Log.WarnContext(ctx, "dropping a webhook message that is not a delivery", "message_id", msg.MessageId)
		return nil //nolint:nilerr // a malformed message is dropped, never retried
	}
	if m.V > 1 {
		return queue.Retry(time.Minute, fmt.Errorf("webhook message version %d: %w", m.V, queue.ErrNewer))
	}
	c, err := d.Store.claim(ctx, m.DeliveryID, Timeout+20*time.Second)
	switch {
	case errors.Is(err, errBusy):
		return queue.Retry(Timeout+30*time.Second, err)
	case err != nil:
		return err
	case c == nil:
		return nil // gone with its endpoint, or done
	case c.Disabled && c.Type != TestEvent:
		return d.Store.drop(ctx, m.DeliveryID, "the endpoint is disabled")
	}
	started := d.now()
	res, perr := d.Client.Post(ctx, c.URL, c.Secret, m.DeliveryID.String(), started, c.Payload)
	o := outcome{Started: started, Duration: d.now().Sub(started), Status: res.Status}
	log := d.Log.With("delivery_id", m.DeliveryID.String(), "webhook_id", c.WebhookID.String(), "event", c.Type, "attempt", c.Attempt)
	if perr == nil {
		if err := d.Store.record(ctx, m.DeliveryID, c, o, ""); err != nil {
			return err
		}
		log.InfoContext(ctx, "webhook delivered", "status", res.Status)
		return nil
	}
	o.Error = perr.Error()
	if res.Body != "" {
		o.Error += ": " + res.Body
	}
	retry := c.Attempt - 1 // retries made before this attempt
	o.Final = retry >= len(d.Retries)
	reason := ""
	if o.Final && c.Type != TestEvent {
		reason = fmt.Sprintf("disabled after %d failed attempts of delivery %s; the last: %s", c.Attempt, m.DeliveryID, truncate(o.Error, 300))
	}
	if !o.Final {
		o.Wait = d.Retries[retry]
		o.Queued = o.Wait <= MaxQueueDelay
	}
	if err := d.Store.record(ctx, m.DeliveryID, c, o, reason); err != nil {
		return err
	}
	if o.Final {
		log.WarnContext(ctx, "webhook delivery failed for good", "error", o.Error, "endpoint_disabled", reason != "")
		return nil
	}
	log.InfoContext(ctx, "webhook attempt failed; retrying", "error", o.Error, "retry_in_s", o.Wait.Seconds(), "by_queue_delay", o.Queued)
	if o.Queued {
		if err := d.Queue.SendAfter(ctx, m.DeliveryID, o.Wait); err != nil {
			log.WarnContext(ctx, "could not queue the retry; the sweeper sends it when due", "error", err.Error())
			return d.Store.markUnsent(ctx, m.DeliveryID)
		}
	}
	return nil
}
