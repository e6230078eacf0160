package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Redacted returns the config as variable name -> value, safe to log:
// secrets become "set" or "unset" ("development" for the public
// DevelopmentAuthSecret), URLs lose their passwords, and unset optional values
// are "".
func (c *Config) Redacted() map[string]string {
	authURL := ""
	if c.AuthURL != nil {
		authURL = c.AuthURL.Redacted()
	}
	m := map[string]string{
		"STAGE":                 string(c.Stage),
		"DATABASE_URL":          redactURL(c.DatabaseURL),
		"DATABASE_URL_UNPOOLED": redactURL(c.DatabaseURLUnpooled),
		"DATABASE_EXEC_MODE":    c.DatabaseExecMode,
		"AUTH_SECRET":           setOrUnset(c.AuthSecret),
		"AUTH_URL":              authURL,
		"GOOGLE_CLIENT_ID":      c.GoogleClientID,
		"GOOGLE_CLIENT_SECRET":  setOrUnset(c.GoogleClientSecret),
		"OPENAI_API_KEY":        setOrUnset(c.OpenAIAPIKey),
		"OPENAI_BASE_URL":       c.OpenAIBaseURL,
		"ELEVENLABS_API_KEY":    setOrUnset(c.ElevenLabsAPIKey),
		"ELEVENLABS_BASE_URL":   c.ElevenLabsBaseURL,
		"STORAGE_BUCKET":        c.StorageBucket,
		"STORAGE_REGION":        c.StorageRegion,
		"SENTRY_DSN":            setOrUnset(c.SentryDSN),
		"LOG_LEVEL":             c.LogLevel,
		"SECRETS_SSM_PATH":      c.SecretsPath,
		"SECRETS_SSM_NAMES":     strings.Join(c.SecretsNames, ","),
		"LOG_SHIP_DESTINATION":  c.LogShip.Destination,
		"LOG_SHIP_URL":          c.LogShip.URL,
		"LOG_SHIP_TOKEN":        setOrUnset(c.LogShip.Token),
	}
	for _, q := range c.Queues.vars() {
		m[q.name] = *q.url
	}
	if c.AuthSecret == DevelopmentAuthSecret {
		m["AUTH_SECRET"] = "development"
	}
	return m
}

// String returns the redacted config, so that printing a *Config with %v
// cannot leak a secret.
func (c *Config) String() string {
	return fmt.Sprint(c.Redacted())
}

// LogValue returns the redacted config as a group, so that slog never logs a
// secret.
func (c *Config) LogValue() slog.Value {
	m := c.Redacted()
	attrs := make([]slog.Attr, 0, len(m))
	for k, v := range m {
		attrs = append(attrs, slog.String(k, v))
	}
	slices.SortFunc(attrs, func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	return slog.GroupValue(attrs...)
}

func setOrUnset(secret string) string {
	if secret == "" {
		return "unset"
	}
	return "set"
}

// redactURL hides the password of a postgres URL, in the user part or in a
// password= query parameter. A value that does not parse is not shown.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "set (unparsable)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
