// Package elevenlabs is a small client for ElevenLabs text-to-speech
// (POST /v1/text-to-speech/{voice_id}), the voice of the voiceover recipe.
//
// Requests go through provider.Do, so rate limits ("too many concurrent
// requests", "system busy"), server errors and network failures are retried
// with backoff, honouring Retry-After, and failures are *provider.Error values
// whose text names ELEVENLABS_API_KEY, never the key. ElevenLabs answers a
// spent quota with 401 quota_exceeded; that is permanent and says so.
//
// Synthesize checks that what comes back is audio of the requested kind (for
// mp3 formats, audio/mpeg that starts like an MP3 file): an error page or a
// JSON answer with status 200 is an error, not a voice track.
package elevenlabs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/redub/redub/shared/provider"
)

// Names and defaults.
const (
	DefaultBaseURL      = "https://api.elevenlabs.io"
	KeyVar              = "ELEVENLABS_API_KEY" // named in errors about the key
	DefaultVoiceID      = "21m00Tcm4TlvDq8ikWAM"
	DefaultModelID      = "eleven_multilingual_v2"
	DefaultOutputFormat = "mp3_44100_128"
	providerName        = "ElevenLabs"
)

// PremadeVoices are ElevenLabs' long-standing premade voices (Rachel, Domi,
// Bella, Antoni, Elli, Josh, Arnold, Adam, Sam; ElevenLabs voice library),
// handed to a job's speakers in turn when ELEVENLABS_VOICES lists none.
func PremadeVoices() []string {
	return []string{"21m00Tcm4TlvDq8ikWAM", "AZnzlk1XvdvUeBnXmlld", "EXAVITQu4vr4xnjfxsqu", "ErXwobaYiN019PkySvjV",
		"MF3mGyEYCl7XYWbV9V6O", "TxGEqnHWrfWFTfGW9XjX", "VR6AewLTigWG4xSOukaG", "pNInz6obpgDQGcFmaJgB", "yoZ06aMxZJJ28mfd3POQ"}
}

// maxAudioBytes bounds the audio read from one answer.
const maxAudioBytes = 64 << 20

// ErrNoKey is returned by every call of a client made with an empty key.
var ErrNoKey = errors.New("elevenlabs: " + KeyVar + " is not set")

// Client calls the ElevenLabs API. Its methods may be called concurrently;
// set the exported fields before the first call.
type Client struct {
	// Policy is how requests are retried. New fills in the provider's name,
	// KeyVar and error parsing; tests replace Sleep to record waits.
	Policy provider.Policy

	baseURL string
	apiKey  string
	http    *http.Client
}

// New returns a client for the API at baseURL (DefaultBaseURL when empty,
// with or without a trailing slash) that authenticates with apiKey. A nil
// httpClient means http.DefaultClient.
func New(baseURL, apiKey string, httpClient *http.Client) *Client {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &Client{
		Policy:  provider.Policy{Provider: providerName, KeyVar: KeyVar, ParseError: parseError},
		baseURL: strings.TrimRight(baseURL, "/"),
		apiKey:  apiKey,
		http:    httpClient,
	}
}

// SpeechRequest is what to say and how.
type SpeechRequest struct {
	VoiceID      string // default DefaultVoiceID
	ModelID      string // default DefaultModelID
	Text         string // required
	PreviousText string // the text spoken just before, for continuity; not billed
	NextText     string // the text spoken just after, for continuity; not billed
	OutputFormat string // codec_samplerate_bitrate, default DefaultOutputFormat ("mp3_44100_128")
}

// Usage is what a call consumed, for the cost ledger.
type Usage struct {
	// Characters is what ElevenLabs charged, from its character-cost
	// header, or the characters of Text when the header is absent.
	Characters int    `json:"characters"`
	RequestID  string `json:"request_id,omitempty"` // ElevenLabs' request-id header, for support
}

// speechBody is the JSON body of a text-to-speech request.
type speechBody struct {
	Text         string `json:"text"`
	ModelID      string `json:"model_id"`
	PreviousText string `json:"previous_text,omitempty"`
	NextText     string `json:"next_text,omitempty"`
}

// Synthesize speaks req.Text and returns the audio file's bytes (MP3 with the
// default format) and the characters billed.
//
// It fails before any request when Text is empty. API failures are
// *provider.Error values; an answer that is not audio of the requested kind
// is a non-permanent *provider.Error with Code "not_audio".
func (c *Client) Synthesize(ctx context.Context, req SpeechRequest) ([]byte, Usage, error) {
	if c.apiKey == "" {
		return nil, Usage{}, ErrNoKey
	}
	if strings.TrimSpace(req.Text) == "" {
		return nil, Usage{}, errors.New("synthesize: no text")
	}
	if req.VoiceID == "" {
		req.VoiceID = DefaultVoiceID
	}
	if req.ModelID == "" {
		req.ModelID = DefaultModelID
	}
	if req.OutputFormat == "" {
		req.OutputFormat = DefaultOutputFormat
	}
	body, err := json.Marshal(speechBody{Text: req.Text, ModelID: req.ModelID, PreviousText: req.PreviousText, NextText: req.NextText})
	if err != nil {
		return nil, Usage{}, fmt.Errorf("synthesize: %w", err)
	}
	endpoint := c.baseURL + "/v1/text-to-speech/" + url.PathEscape(req.VoiceID) + "?" + url.Values{"output_format": {req.OutputFormat}}.Encode()
	// mp3 formats come as audio/mpeg; others (pcm, opus, ulaw...) as some
	// audio/ type.
	mp3 := strings.HasPrefix(req.OutputFormat, "mp3_")
	accept := "audio/*"
	if mp3 {
		accept = "audio/mpeg"
	}

	resp, err := provider.Do(ctx, c.http, c.Policy, func() (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("xi-api-key", c.apiKey)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", accept)
		return r, nil
	})
	if err != nil {
		return nil, Usage{}, fmt.Errorf("synthesize with voice %s: %w", req.VoiceID, err)
	}
	defer func() { _ = resp.Body.Close() }()

	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if (mp3 && mt != "audio/mpeg") || !strings.HasPrefix(mt, "audio/") {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		shown := strings.ReplaceAll(string(snippet), c.apiKey, "[redacted]")
		return nil, Usage{}, fmt.Errorf("synthesize with voice %s: %w", req.VoiceID,
			notAudio(resp.StatusCode, fmt.Sprintf("answered %q instead of %s: %q", resp.Header.Get("Content-Type"), accept, shown)))
	}
	audio, err := io.ReadAll(io.LimitReader(resp.Body, maxAudioBytes+1))
	switch {
	case err != nil:
		return nil, Usage{}, fmt.Errorf("synthesize with voice %s: read audio: %w", req.VoiceID, err)
	case len(audio) > maxAudioBytes:
		return nil, Usage{}, fmt.Errorf("synthesize with voice %s: %w", req.VoiceID, notAudio(resp.StatusCode, "the audio is larger than 64 MB"))
	case len(audio) == 0:
		return nil, Usage{}, fmt.Errorf("synthesize with voice %s: %w", req.VoiceID, notAudio(resp.StatusCode, "the answer is empty"))
	case mp3 && !looksLikeMP3(audio):
		return nil, Usage{}, fmt.Errorf("synthesize with voice %s: %w", req.VoiceID, notAudio(resp.StatusCode, "the answer is labelled audio/mpeg but is not MP3"))
	}

	u := Usage{Characters: utf8.RuneCountInString(req.Text), RequestID: resp.Header.Get("request-id")}
	if n, err := strconv.Atoi(resp.Header.Get("character-cost")); err == nil && n >= 0 {
		u.Characters = n
	}
	return audio, u, nil
}

func notAudio(status int, msg string) *provider.Error {
	return &provider.Error{Provider: providerName, KeyVar: KeyVar, Status: status, Code: "not_audio", Message: msg}
}

// looksLikeMP3 reports whether b starts with an ID3v2 tag or an MPEG audio
// frame header.
func looksLikeMP3(b []byte) bool {
	if bytes.HasPrefix(b, []byte("ID3")) {
		return true
	}
	return len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0
}

// parseError reads ElevenLabs' error bodies:
// {"detail":{"status","message"}} (or "code" for "status"), {"detail":"..."},
// and FastAPI's validation list {"detail":[{"loc","msg","type"}]}.
func parseError(body []byte) (code, message string) {
	var v struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Detail) == 0 {
		return "", ""
	}
	var obj struct {
		Status  string `json:"status"`
		Code    string `json:"code"`
		Type    string `json:"type"`
		Message string `json:"message"`
	}
	if json.Unmarshal(v.Detail, &obj) == nil {
		code = obj.Status
		if code == "" {
			code = obj.Code
		}
		if code == "" {
			code = obj.Type
		}
		return code, obj.Message
	}
	var s string
	if json.Unmarshal(v.Detail, &s) == nil {
		return "", s
	}
	var list []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(v.Detail, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, item := range list {
			loc := make([]string, 0, len(item.Loc))
			for _, l := range item.Loc {
				loc = append(loc, fmt.Sprint(l))
			}
			parts = append(parts, strings.Join(loc, ".")+": "+item.Msg)
		}
		return "validation_error", strings.Join(parts, "; ")
	}
	return "", ""
}
