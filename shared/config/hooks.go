package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhooks is what the webhook delivery function reads.
type Webhooks struct {
	// Retries are the waits before each retry of a failed delivery
	// (WEBHOOK_RETRY_SECONDS, comma-separated whole seconds, growing). When
	// every retry has failed the endpoint is disabled with the last reason.
	Retries []time.Duration
}

// DefaultWebhookRetries is WEBHOOK_RETRY_SECONDS's default, the schedule the
// Standard Webhooks specification suggests: 5 s, 5 min, 30 min, 2 h, 5 h,
// 10 h, 10 h, about 28 hours in all, after the first attempt.
func DefaultWebhookRetries() []time.Duration {
	return []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}
}

// maxWebhookRetry is the longest wait SQS can give a message handed back
// (ChangeMessageVisibility's 12 hours).
const maxWebhookRetry = 12 * time.Hour

func (l *loader) webhooks(c *Config) {
	c.Webhooks.Retries = DefaultWebhookRetries()
	v, name, ssm := l.lookup("WEBHOOK_RETRY_SECONDS")
	if v == "" {
		return
	}
	var retries []time.Duration
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		d := time.Duration(n) * time.Second
		if err != nil || n < 1 || d > maxWebhookRetry || (len(retries) > 0 && d < retries[len(retries)-1]) || len(retries) == 20 {
			l.fail(name, ssm, fmt.Sprintf("is %q, want up to 20 comma-separated whole seconds from 1 to 43200, each at least the one before", v))
			return
		}
		retries = append(retries, d)
	}
	c.Webhooks.Retries = retries
}

// LogShip is where the log shipper sends the functions' log lines.
type LogShip struct {
	// Destination is LOG_SHIP_DESTINATION: "axiom", "loki", or "" (the
	// shipper drops nothing and sends nothing: it logs that it is off).
	Destination string
	// URL is LOG_SHIP_URL, without a trailing slash: Axiom's API
	// (default https://api.axiom.co) or the Loki server (required for loki).
	URL string
	// Dataset is LOG_SHIP_DATASET, the Axiom dataset (required for axiom).
	Dataset string
	// User is LOG_SHIP_USER: with Loki, the basic-auth user (Grafana Cloud's
	// numeric user id); empty means a bearer token.
	User string
	// Token is LOG_SHIP_TOKEN (a secret): Axiom's API token, or Loki's
	// password or bearer token.
	Token string
	// Format is LOG_SHIP_LOKI_FORMAT: "protobuf" (snappy-compressed, the
	// default) or "json".
	Format string
}

// LogShipDestinations are the accepted LOG_SHIP_DESTINATION values.
func LogShipDestinations() []string { return []string{"axiom", "loki"} }

func (l *loader) logShip(c *Config) {
	v, name, ssm := l.lookup("LOG_SHIP_DESTINATION")
	switch d := strings.ToLower(v); d {
	case "", "none":
	case "axiom", "loki":
		c.LogShip.Destination = d
	default:
		l.fail(name, ssm, fmt.Sprintf("is %q, want %s (or empty: no shipping)", v, oneOf(LogShipDestinations()...)))
	}
	def := ""
	if c.LogShip.Destination == "axiom" {
		def = "https://api.axiom.co"
	}
	c.LogShip.URL = l.baseURL("LOG_SHIP_URL", def)
	c.LogShip.Dataset, _, _ = l.lookup("LOG_SHIP_DATASET")
	c.LogShip.User, _, _ = l.lookup("LOG_SHIP_USER")
	c.LogShip.Token, _, _ = l.lookup("LOG_SHIP_TOKEN")
	switch c.LogShip.Destination {
	case "axiom":
		if c.LogShip.Dataset == "" {
			l.missing("LOG_SHIP_DATASET", "", "when LOG_SHIP_DESTINATION=axiom")
		}
		if c.LogShip.Token == "" {
			l.missing("LOG_SHIP_TOKEN", "", "when LOG_SHIP_DESTINATION=axiom")
		}
	case "loki":
		if c.LogShip.URL == "" {
			l.missing("LOG_SHIP_URL", "", "when LOG_SHIP_DESTINATION=loki")
		}
	}
	v, name, ssm = l.lookup("LOG_SHIP_LOKI_FORMAT")
	switch f := strings.ToLower(v); f {
	case "":
		c.LogShip.Format = "protobuf"
	case "protobuf", "json":
		c.LogShip.Format = f
	default:
		l.fail(name, ssm, fmt.Sprintf("is %q, want %s", v, oneOf("protobuf", "json")))
	}
}
