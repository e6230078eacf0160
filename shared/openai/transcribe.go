package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"

	"github.com/redub/redub/shared/provider"
)

// MaxUploadBytes is the largest file the transcription endpoint accepts.
const MaxUploadBytes = 25 << 20

// DefaultTranscribeModel is the model Transcribe uses when none is named; it
// is the one that answers verbose_json with segment timestamps.
const DefaultTranscribeModel = "whisper-1"

// audioTypes are the file extensions the API accepts, with the Content-Type
// sent for each part.
func audioTypes() map[string]string {
	return map[string]string{
		".flac": "audio/flac", ".m4a": "audio/mp4", ".mp3": "audio/mpeg", ".mp4": "audio/mp4",
		".mpeg": "audio/mpeg", ".mpga": "audio/mpeg", ".oga": "audio/ogg", ".ogg": "audio/ogg",
		".wav": "audio/wav", ".webm": "audio/webm",
	}
}

// TranscribeRequest says how to transcribe.
type TranscribeRequest struct {
	Model    string // default DefaultTranscribeModel
	Language string // the spoken language, ISO-639-1 ("en"); "" lets the model detect it
	Prompt   string // optional text in the spoken language to guide spelling or continue a previous part
}

// Segment is a timed piece of a transcript.
type Segment struct {
	ID    int     `json:"id"`
	Start float64 `json:"start"` // seconds from the start of the audio
	End   float64 `json:"end"`
	Text  string  `json:"text"`
	// MaxChars is the character budget of a slot-aware translation (see
	// TranslateRequest.Slots); 0 means none. Transcripts leave it 0.
	MaxChars int `json:"max_chars,omitempty"`
}

// Transcript is what was said in an audio file.
type Transcript struct {
	Language string    `json:"language"` // as the model reports it, e.g. "english"
	Duration float64   `json:"duration"` // seconds of audio
	Text     string    `json:"text"`
	Segments []Segment `json:"segments"`
}

// verboseJSON is the answer to response_format=verbose_json.
type verboseJSON struct {
	Language string     `json:"language"`
	Duration float64    `json:"duration"`
	Text     string     `json:"text"`
	Segments *[]Segment `json:"segments"`
	Usage    *struct {
		Type    string  `json:"type"`
		Seconds float64 `json:"seconds"`
	} `json:"usage"`
}

// Transcribe uploads the audio file at audioPath (one of the formats the API
// accepts: flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav, webm) and returns
// its transcript with segment timestamps, and the seconds billed.
//
// A file over MaxUploadBytes fails with an error wrapping ErrTooLarge, and an
// unsupported extension with a plain error, both before any request. API
// failures are *provider.Error values (see the package documentation).
func (c *Client) Transcribe(ctx context.Context, audioPath string, req TranscribeRequest) (Transcript, Usage, error) {
	if err := c.checkKey(); err != nil {
		return Transcript{}, Usage{}, err
	}
	if req.Model == "" {
		req.Model = DefaultTranscribeModel
	}
	body, contentType, err := transcriptionBody(audioPath, req)
	if err != nil {
		return Transcript{}, Usage{}, fmt.Errorf("transcribe %s: %w", filepath.Base(audioPath), err)
	}

	url := c.baseURL + "/audio/transcriptions"
	resp, err := provider.Do(ctx, c.http, c.Policy, func() (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		c.authorize(r)
		r.Header.Set("Content-Type", contentType)
		return r, nil
	})
	if err != nil {
		return Transcript{}, Usage{}, fmt.Errorf("transcribe %s: %w", filepath.Base(audioPath), err)
	}
	defer func() { _ = resp.Body.Close() }()
	var v verboseJSON
	if err := decodeJSON(resp, &v); err != nil {
		return Transcript{}, Usage{}, fmt.Errorf("transcribe %s: %w", filepath.Base(audioPath), err)
	}
	t, err := v.transcript(req.Model)
	if err != nil {
		return Transcript{}, Usage{}, fmt.Errorf("transcribe %s: %w", filepath.Base(audioPath), err)
	}
	u := Usage{AudioSeconds: v.Duration}
	if v.Usage != nil && v.Usage.Type == "duration" && v.Usage.Seconds > 0 {
		u.AudioSeconds = v.Usage.Seconds
	}
	return t, u, nil
}

// transcriptionBody builds the multipart form once; each attempt reads it
// afresh. The file is at most 25 MB, so holding it in memory is cheaper than
// reopening and streaming it per attempt.
func transcriptionBody(audioPath string, req TranscribeRequest) ([]byte, string, error) {
	ext := strings.ToLower(filepath.Ext(audioPath))
	partType, ok := audioTypes()[ext]
	if !ok {
		return nil, "", fmt.Errorf("the API does not accept %q files (flac, m4a, mp3, mp4, mpeg, mpga, oga, ogg, wav or webm)", ext)
	}
	f, err := os.Open(audioPath)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	switch {
	case err != nil:
		return nil, "", err
	case !info.Mode().IsRegular():
		return nil, "", errors.New("not a regular file")
	case info.Size() == 0:
		return nil, "", errors.New("the file is empty")
	case info.Size() > MaxUploadBytes:
		return nil, "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, info.Size())
	}

	var buf bytes.Buffer
	buf.Grow(int(info.Size()) + 4096)
	w := multipart.NewWriter(&buf)
	fields := [][2]string{
		{"model", req.Model},
		{"response_format", "verbose_json"},
		{"timestamp_granularities[]", "segment"},
	}
	if req.Language != "" {
		fields = append(fields, [2]string{"language", req.Language})
	}
	if req.Prompt != "" {
		fields = append(fields, [2]string{"prompt", req.Prompt})
	}
	for _, kv := range fields {
		if err := w.WriteField(kv[0], kv[1]); err != nil {
			return nil, "", err
		}
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, quoteEscaper().Replace(filepath.Base(audioPath))))
	h.Set("Content-Type", partType)
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := io.Copy(part, f); err != nil {
		return nil, "", fmt.Errorf("read audio: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}

// quoteEscaper escapes a file name as mime/multipart does.
func quoteEscaper() *strings.Replacer {
	return strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")
}

// transcript checks the answer and trims the segment texts, which Whisper
// starts with a space.
func (v verboseJSON) transcript(model string) (Transcript, error) {
	if v.Segments == nil {
		return Transcript{}, unusable(http.StatusOK, "no_segments", fmt.Sprintf("the answer has no segments; model %q may not support verbose_json (use %s)", model, DefaultTranscribeModel))
	}
	t := Transcript{Language: v.Language, Duration: v.Duration, Text: strings.TrimSpace(v.Text), Segments: make([]Segment, 0, len(*v.Segments))}
	for _, s := range *v.Segments {
		if !finite(s.Start) || !finite(s.End) || s.Start < 0 || s.End < s.Start {
			return Transcript{}, unusable(http.StatusOK, "bad_segment", fmt.Sprintf("segment %d has times %v..%v", s.ID, s.Start, s.End))
		}
		s.Text = strings.TrimSpace(s.Text)
		t.Segments = append(t.Segments, s)
	}
	return t, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
