package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/redub/redub/shared/provider"
)

// Names and defaults.
const (
	DefaultBaseURL = "https://api.openai.com/v1"
	KeyVar         = "OPENAI_API_KEY" // named in errors about the key
	providerName   = "OpenAI"
)

// maxAnswerBytes bounds the JSON answers read from the API.
const maxAnswerBytes = 32 << 20

// Client calls the OpenAI API. Its methods may be called concurrently; set
// the exported fields before the first call.
type Client struct {
	// Policy is how requests are retried. New fills in the provider's name,
	// KeyVar and error parsing; tests replace Sleep to record waits.
	Policy provider.Policy
	// ChunkChars is roughly how many characters of text Translate sends per
	// request; default DefaultChunkChars.
	ChunkChars int

	baseURL string
	apiKey  string
	http    *http.Client
}

// New returns a client for the API at baseURL (DefaultBaseURL when empty,
// e.g. "https://api.openai.com/v1", with or without a trailing slash) that
// authenticates with apiKey. A nil httpClient means http.DefaultClient.
func New(baseURL, apiKey string, httpClient *http.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{
		Policy: provider.Policy{
			Provider:   providerName,
			KeyVar:     KeyVar,
			ParseError: parseError,
		},
		ChunkChars: DefaultChunkChars,
		baseURL:    strings.TrimRight(baseURL, "/"),
		apiKey:     apiKey,
		http:       httpClient,
	}
}

// Usage is what a call consumed, for the cost ledger.
type Usage struct {
	AudioSeconds     float64 `json:"audio_seconds,omitempty"`     // Transcribe: seconds of audio billed
	PromptTokens     int     `json:"prompt_tokens,omitempty"`     // Translate: input tokens, over every request
	CompletionTokens int     `json:"completion_tokens,omitempty"` // Translate: output tokens, over every request
}

func (u *Usage) add(v Usage) {
	u.AudioSeconds += v.AudioSeconds
	u.PromptTokens += v.PromptTokens
	u.CompletionTokens += v.CompletionTokens
}

// checkKey fails, before any request, for a client without a key.
func (c *Client) checkKey() error {
	if c.apiKey == "" {
		return ErrNoKey
	}
	return nil
}

func (c *Client) authorize(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
}

// decodeJSON reads a 2xx answer into v, checking that it is JSON.
func decodeJSON(resp *http.Response, v any) error {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return unusable(resp.StatusCode, "not_json", fmt.Sprintf("answered %q instead of JSON", resp.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if len(body) > maxAnswerBytes {
		return unusable(resp.StatusCode, "too_large", "the answer is larger than 32 MB")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return unusable(resp.StatusCode, "not_json", "the answer is not valid JSON: "+err.Error())
	}
	return nil
}

// unusable is the error for a 2xx answer the client cannot use.
func unusable(status int, code, msg string) *provider.Error {
	return &provider.Error{Provider: providerName, KeyVar: KeyVar, Status: status, Code: code, Message: msg}
}

// parseError reads OpenAI's error body: {"error":{"message","type","param","code"}}.
func parseError(body []byte) (code, message string) {
	var v struct {
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || v.Error == nil {
		return "", ""
	}
	code = provider.CodeString(v.Error.Code)
	if code == "" {
		code = v.Error.Type
	}
	return code, v.Error.Message
}

// ErrNoKey is returned by every call of a client made with an empty key.
var ErrNoKey = errors.New("openai: " + KeyVar + " is not set")

// ErrTooLarge is returned, wrapped, by Transcribe for a file over
// MaxUploadBytes; nothing is sent.
var ErrTooLarge = errors.New("audio file over the 25 MB upload limit; split it first")
