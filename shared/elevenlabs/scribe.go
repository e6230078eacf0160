package elevenlabs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/redub/redub/shared/provider"
)

// Scribe's names and limits (ElevenLabs API reference, speech-to-text,
// read 2026-12).
const (
	DefaultSTTModel = "scribe_v2"
	MaxKeyterms     = 100
	MaxSpeakers     = 32
	// MaxSTTUploadBytes is the smaller of the file limits ElevenLabs
	// documents (3 GB; another page says 5 GB).
	MaxSTTUploadBytes = 3 << 30
)

// TranscribeRequest says how Scribe should transcribe.
type TranscribeRequest struct {
	ModelID     string   // default DefaultSTTModel
	Language    string   // ISO 639 code; "" lets Scribe detect it
	Diarize     bool     // tell speakers apart (speaker_id on each word)
	NumSpeakers int      // a hint, 1..MaxSpeakers; 0 lets Scribe decide
	Keyterms    []string // at most MaxKeyterms words or names to recognise as written
}

// Word is one item of Scribe's answer: a word, the spacing between words or
// an audio event ("(laughter)").
type Word struct {
	Text      string  `json:"text"`
	Start     float64 `json:"start"`
	End       float64 `json:"end"`
	Type      string  `json:"type"` // word, spacing or audio_event
	SpeakerID string  `json:"speaker_id,omitempty"`
	Logprob   float64 `json:"logprob,omitempty"`
}

// Transcript is Scribe's answer.
type Transcript struct {
	LanguageCode        string  `json:"language_code"`
	LanguageProbability float64 `json:"language_probability"`
	Text                string  `json:"text"`
	Words               []Word  `json:"words"`
}

// STTUsage is what a transcription consumed.
type STTUsage struct {
	AudioSeconds float64 `json:"audio_seconds"` // the end of the last word: Scribe bills by the audio's length
	RequestID    string  `json:"request_id,omitempty"`
}

// Transcribe uploads the audio file at audioPath to Scribe
// (POST /v1/speech-to-text, multipart) with word timestamps and returns the
// words it heard. API failures are *provider.Error values; an answer that is
// not Scribe's JSON is a non-permanent *provider.Error with Code
// "invalid_answer".
func (c *Client) Transcribe(ctx context.Context, audioPath string, req TranscribeRequest) (Transcript, STTUsage, error) {
	if c.apiKey == "" {
		return Transcript{}, STTUsage{}, ErrNoKey
	}
	if req.ModelID == "" {
		req.ModelID = DefaultSTTModel
	}
	switch {
	case len(req.Keyterms) > MaxKeyterms:
		return Transcript{}, STTUsage{}, fmt.Errorf("transcribe: %d keyterms, at most %d", len(req.Keyterms), MaxKeyterms)
	case req.NumSpeakers < 0 || req.NumSpeakers > MaxSpeakers:
		return Transcript{}, STTUsage{}, fmt.Errorf("transcribe: num_speakers %d, want 0..%d", req.NumSpeakers, MaxSpeakers)
	}
	body, ctype, err := sttBody(audioPath, req)
	if err != nil {
		return Transcript{}, STTUsage{}, fmt.Errorf("transcribe %s: %w", filepath.Base(audioPath), err)
	}
	resp, err := provider.Do(ctx, c.http, c.Policy, func() (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+"/v1/speech-to-text", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("xi-api-key", c.apiKey)
		r.Header.Set("Content-Type", ctype)
		r.Header.Set("Accept", "application/json")
		return r, nil
	})
	if err != nil {
		return Transcript{}, STTUsage{}, fmt.Errorf("transcribe %s: %w", filepath.Base(audioPath), err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return Transcript{}, STTUsage{}, fmt.Errorf("transcribe %s: read answer: %w", filepath.Base(audioPath), err)
	}
	var t Transcript
	if err := json.Unmarshal(raw, &t); err != nil || t.Words == nil && t.Text == "" && t.LanguageCode == "" {
		return Transcript{}, STTUsage{}, fmt.Errorf("transcribe %s: %w", filepath.Base(audioPath),
			&provider.Error{Provider: providerName, KeyVar: KeyVar, Status: resp.StatusCode, Code: "invalid_answer", Message: "the answer is not a Scribe transcript"})
	}
	u := STTUsage{RequestID: resp.Header.Get("request-id")}
	for _, w := range t.Words {
		if bad(w.Start) || bad(w.End) {
			return Transcript{}, STTUsage{}, fmt.Errorf("transcribe %s: %w", filepath.Base(audioPath),
				&provider.Error{Provider: providerName, KeyVar: KeyVar, Status: resp.StatusCode, Code: "invalid_answer", Message: "a word has no usable times"})
		}
		u.AudioSeconds = max(u.AudioSeconds, w.End)
	}
	return t, u, nil
}

func bad(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) || f < 0 }

// sttBody builds the multipart form once; each attempt reads it afresh.
func sttBody(audioPath string, req TranscribeRequest) ([]byte, string, error) {
	f, err := os.Open(audioPath)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if st.Size() > MaxSTTUploadBytes {
		return nil, "", errors.New("the file is larger than Scribe's 3 GB limit")
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := [][2]string{{"model_id", req.ModelID}, {"timestamps_granularity", "word"}, {"tag_audio_events", "false"},
		{"diarize", strconv.FormatBool(req.Diarize)}}
	if req.Language != "" {
		fields = append(fields, [2]string{"language_code", req.Language})
	}
	if req.NumSpeakers > 0 {
		fields = append(fields, [2]string{"num_speakers", strconv.Itoa(req.NumSpeakers)})
	}
	for _, k := range req.Keyterms {
		fields = append(fields, [2]string{"keyterms", strings.TrimSpace(k)})
	}
	for _, kv := range fields {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			return nil, "", err
		}
	}
	part, err := mw.CreateFormFile("file", filepath.Base(audioPath))
	if err != nil {
		return nil, "", err
	}
	if _, err := io.Copy(part, f); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}
