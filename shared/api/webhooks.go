package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/httpapi"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/webhook"
)

// Webhooks builds the webhook store.
func (d *Deps) Webhooks() *webhook.Store { return webhook.NewStore(d.DB) }

// WebhookPolicy is the endpoint policy of the function's stage.
func (d *Deps) WebhookPolicy() webhook.Policy {
	return webhook.Policy{Development: d.App.Config.Stage == config.Development}
}

// WebhookQueue builds the sender of webhook deliveries (WEBHOOK_QUEUE_URL).
func (d *Deps) WebhookQueue(ctx context.Context) (webhook.Queue, error) {
	awsCfg, err := d.App.AWS(ctx)
	if err != nil {
		return webhook.Queue{}, err
	}
	return webhook.Queue{Client: queue.NewClient(awsCfg, d.App.Getenv), URL: d.App.Config.Queues.Webhook}, nil
}

// WebhookRequest is the body of POST /webhooks.
type WebhookRequest struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
}

// CreateWebhook is POST /webhooks. The Idempotency-Key header is required,
// as on POST /jobs: the same key and body give the same endpoint (200, with
// its secret), a new endpoint answers 201 with its secret, the only answer
// that shows it; the same key with another body is 422.
func CreateWebhook(store *webhook.Store, policy webhook.Policy) http.Handler {
	return userAction(func(w http.ResponseWriter, r *http.Request, u uuid.UUID) error {
		key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
		if key == "" || len(key) > 255 {
			return apperr.InvalidField("Idempotency-Key", "the Idempotency-Key header is required (1-255 characters, e.g. a UUID)")
		}
		var req WebhookRequest
		if err := httpapi.Decode(w, r, &req, 8<<10); err != nil {
			return err
		}
		if len(req.Description) > 200 {
			return apperr.InvalidField("description", "description is longer than 200 characters")
		}
		events, err := webhook.ValidEvents(req.Events)
		if err != nil {
			return err
		}
		target, err := policy.CheckURL(r.Context(), strings.TrimSpace(req.URL))
		if err != nil {
			return err
		}
		canonical, _ := json.Marshal([]any{target.String(), req.Description, events})
		sum := sha256.Sum256(canonical)
		hook, created, err := store.Create(r.Context(), webhook.NewWebhook{UserID: u, URL: target.String(), Description: req.Description,
			Events: events, IdempotencyKey: key, RequestHash: sum[:]})
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		w.Header().Set("Location", "/webhooks/"+hook.ID.String())
		w.Header().Set("Cache-Control", "no-store")
		httpapi.JSON(w, status, hook)
		return nil
	})
}

// ListWebhooks is GET /webhooks.
func ListWebhooks(store *webhook.Store) http.Handler {
	return userAction(func(w http.ResponseWriter, r *http.Request, u uuid.UUID) error {
		items, err := store.List(r.Context(), u)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, newPage(items, ""))
		return nil
	})
}

// DeleteWebhook is DELETE /webhooks/{id}.
func DeleteWebhook(store *webhook.Store) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		if err := store.Delete(ctx, u, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// TestWebhook is POST /webhooks/{id}/test: queues a webhook.test delivery
// and answers 202 with its id (the delivery log shows how it went).
func TestWebhook(store *webhook.Store, q webhook.Sender) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		deliveryID, err := store.CreateTest(ctx, u, id, time.Now())
		if err != nil {
			return err
		}
		if err := store.SendOne(ctx, q, deliveryID); err != nil {
			// The delivery exists unsent; the sweeper sends it within minutes.
			return apperr.Wrap(apperr.Unavailable, err, "the test delivery is queued but could not be sent yet; it goes out within a few minutes")
		}
		httpapi.JSON(w, http.StatusAccepted, map[string]any{"delivery_id": deliveryID, "type": webhook.TestEvent})
		return nil
	})
}

// ListDeliveries is GET /webhooks/{id}/deliveries.
func ListDeliveries(store *webhook.Store) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, r *http.Request, u, id uuid.UUID) error {
		limit, err := queryInt(r, "limit")
		if err != nil {
			return err
		}
		items, err := store.Deliveries(ctx, u, id, limit)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, newPage(items, ""))
		return nil
	})
}
