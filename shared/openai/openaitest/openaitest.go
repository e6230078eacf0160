// Package openaitest is an in-process stand-in for the OpenAI API that speaks
// its HTTP protocol, so tests run the real client code against it on
// 127.0.0.1. It serves
//
//   - POST /v1/audio/transcriptions: checks the Bearer key and the multipart
//     form (model, response_format, timestamp_granularities[], language, and
//     a file that ffprobe reads as audio with one of the accepted
//     extensions), then answers verbose_json (or json, or text) with one
//     segment per SegmentSeconds of audio, texted " segment N".
//   - POST /v1/chat/completions: checks the Bearer key and a Structured
//     Outputs request (response_format json_schema, strict, a schema that
//     strict mode accepts and that describes {"segments":[{"id","text"}]}),
//     reads the segments from the last user message (JSON) and answers each
//     text prefixed with "[<target>] ", the target taken from a "Target
//     language: X" line of the system message.
//
// Errors use OpenAI's shape, {"error":{"message","type","param","code"}}.
// Knobs inject failures (FailNext with RateLimit, ServerError,
// Unauthorized, InsufficientQuota), slowness (SetDelay), refusals
// (RefuseNext) and malformed model answers (CorruptNext). Calls counts every
// request, failed ones included; Uploads and ChatRequests keep the accepted
// requests for tests to inspect; MaxInFlight is the most requests it was
// answering at once.
//
// The fake needs ffprobe on PATH.
package openaitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redub/redub/shared/provider/providertest"
)

// SegmentSeconds is the length of the segments the fake transcribes.
const SegmentSeconds = 2.0

// maxFileBytes is the API's upload limit.
const maxFileBytes = 25 << 20

// Server is a fake OpenAI API. Its methods are safe for concurrent use.
type Server struct {
	URL    string // the base URL, ending in /v1, to give openai.New
	APIKey string // the only key the fake accepts

	// InFlight counts the requests answered at once (MaxInFlight).
	providertest.InFlight

	srv *httptest.Server
	dir string

	mu       sync.Mutex
	delay    time.Duration
	failures []Failure
	refusals int
	wordy    float64
	corrupt  []Corruption
	calls    Calls
	uploads  []Upload
	chats    []json.RawMessage
}

// Calls counts requests per endpoint, failed and rejected ones included.
type Calls struct {
	Transcriptions  int
	ChatCompletions int
}

// Upload is an accepted transcription request.
type Upload struct {
	Fields      map[string][]string // the form's text fields
	FileName    string
	ContentType string // of the file part
	Size        int64
	Duration    float64 // seconds, as ffprobe read the file
	Auth        string  // the Authorization header
}

// New starts a fake on 127.0.0.1 with a random key, stopped when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatalf("openaitest: ffprobe is needed (run `bash scripts/deps.sh ffmpeg`): %v", err)
	}
	s := &Server{APIKey: "sk-test-" + randomHex(16), dir: t.TempDir()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/audio/transcriptions", s.transcriptions)
	mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
	})
	s.srv = httptest.NewServer(s.Track(mux))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + "/v1"
	return s
}

// Client returns an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Failure is an error answer to inject.
type Failure struct {
	Status  int
	Type    string // OpenAI's error type
	Code    string // OpenAI's error code; "" for null
	Message string
	Header  http.Header // added to the answer (Retry-After, retry-after-ms, ...)
}

// RateLimit is a 429 rate_limit_exceeded asking to wait retryAfter, in both
// retry-after (whole seconds, rounded up) and retry-after-ms.
func RateLimit(retryAfter time.Duration) Failure {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	h.Set("Retry-After-Ms", strconv.FormatInt(retryAfter.Milliseconds(), 10))
	return Failure{Status: http.StatusTooManyRequests, Type: "requests", Code: "rate_limit_exceeded", Header: h,
		Message: fmt.Sprintf("Rate limit reached for requests. Please try again in %s.", retryAfter)}
}

// ServerError is OpenAI's 500.
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError, Type: "server_error",
		Message: "The server had an error while processing your request. Sorry about that!"}
}

// Unauthorized is a 401 invalid_api_key, as for a revoked key.
func Unauthorized() Failure {
	return Failure{Status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."}
}

// InsufficientQuota is the 429 of an account out of credit.
func InsufficientQuota() Failure {
	return Failure{Status: http.StatusTooManyRequests, Type: "insufficient_quota", Code: "insufficient_quota",
		Message: "You exceeded your current quota, please check your plan and billing details."}
}

// FailNext makes the next n requests, to either endpoint, answer f (after the
// key check). Calls queue up in order.
func (s *Server) FailNext(n int, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, f)
	}
}

// SetDelay makes every answer wait d first (or until the client gives up).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// RefuseNext makes the next n chat completions answer with message.refusal.
func (s *Server) RefuseNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals += n
}

// SetWordy makes every translation factor times as long as its source
// (the source's words repeated), like a model whose translations run longer
// than the source's time slots; a segment's max_chars still bounds it.
func (s *Server) SetWordy(factor float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wordy = factor
}

// Corruption is a way for the model's structured answer to be wrong.
type Corruption int

// The corruptions.
const (
	InvalidJSON Corruption = iota + 1 // content cut off mid-JSON
	MissingID                         // the last segment left out
	ExtraID                           // a segment with an id that was not sent
	DuplicateID                       // the first segment twice
	CutOff                            // finish_reason "length" with the JSON cut off
)

// CorruptNext makes the next n successful chat completions answer with c.
func (s *Server) CorruptNext(n int, c Corruption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.corrupt = append(s.corrupt, c)
	}
}

// Calls returns the request counts so far.
func (s *Server) Calls() Calls {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Uploads returns the accepted transcription requests.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// ChatRequests returns the bodies of the accepted chat completion requests.
func (s *Server) ChatRequests() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.chats)
}

// begin counts the call, reads the body, waits the delay, checks the key and
// applies the next failure. It reports whether the request may go on.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, count *int) bool {
	s.mu.Lock()
	*count++
	delay := s.delay
	s.mu.Unlock()

	// The server notices a client that gave up only once the body is read.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFileBytes+1<<20))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "",
				fmt.Sprintf("Maximum content size limit (%d) exceeded.", maxFileBytes))
		}
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}

	auth := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "":
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "",
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
		return false
	case !ok || key != s.APIKey:
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided: "+mask(key)+". You can find your API key at https://platform.openai.com/account/api-keys.")
		return false
	}

	s.mu.Lock()
	var f *Failure
	if len(s.failures) > 0 {
		f = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.mu.Unlock()
	if f != nil {
		for k, vs := range f.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		writeError(w, f.Status, f.Type, f.Code, f.Message)
		return false
	}
	return true
}

// mask shows a key as OpenAI does, keeping its ends: "sk-te****abcd".
func mask(key string) string {
	if len(key) <= 8 {
		return strings.Repeat("*", len(key))
	}
	return key[:5] + strings.Repeat("*", len(key)-9) + key[len(key)-4:]
}

func (s *Server) transcriptions(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, r, &s.calls.Transcriptions) {
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		badRequest(w, "", "", fmt.Sprintf("Invalid Content-Type header (%s), expected multipart/form-data.", r.Header.Get("Content-Type")))
		return
	}
	if err := r.ParseMultipartForm(1 << 20); err != nil { //nolint:gosec // begin bounded the body with MaxBytesReader
		badRequest(w, "", "", "Could not parse multipart form: "+err.Error())
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	form := r.MultipartForm

	model := first(form.Value["model"])
	format := first(form.Value["response_format"])
	if format == "" {
		format = "json"
	}
	granularities := form.Value["timestamp_granularities[]"]
	language := first(form.Value["language"])
	switch {
	case model == "":
		badRequest(w, "model", "", "you must provide a model parameter")
		return
	case !slices.Contains([]string{"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}, model):
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model))
		return
	case !slices.Contains([]string{"json", "text", "srt", "verbose_json", "vtt"}, format):
		badRequest(w, "response_format", "invalid_value", fmt.Sprintf("Invalid value for 'response_format': %q.", format))
		return
	case model != "whisper-1" && format != "json" && format != "text":
		badRequest(w, "response_format", "unsupported_value",
			fmt.Sprintf("response_format '%s' is not compatible with model '%s'. Use 'json' or 'text' instead.", format, model))
		return
	case format == "srt" || format == "vtt":
		badRequest(w, "response_format", "", "openaitest: response_format "+format+" is not implemented by the fake")
		return
	case len(granularities) > 0 && format != "verbose_json":
		badRequest(w, "timestamp_granularities", "", "timestamp_granularities requires response_format=verbose_json")
		return
	case language != "" && !regexp.MustCompile(`^[a-z]{2}$`).MatchString(language):
		badRequest(w, "language", "invalid_language_format",
			fmt.Sprintf("Invalid language '%s'. Language parameter must be specified in ISO-639-1 format.", language))
		return
	}
	for _, g := range granularities {
		if g != "segment" && g != "word" {
			badRequest(w, "timestamp_granularities", "invalid_value", fmt.Sprintf("Invalid value for 'timestamp_granularities': %q.", g))
			return
		}
	}

	files := form.File["file"]
	if len(files) != 1 {
		badRequest(w, "file", "", "you must provide exactly one file")
		return
	}
	fh := files[0]
	ext := strings.ToLower(filepath.Ext(fh.Filename))
	if !slices.Contains([]string{".flac", ".m4a", ".mp3", ".mp4", ".mpeg", ".mpga", ".oga", ".ogg", ".wav", ".webm"}, ext) {
		badRequest(w, "file", "invalid_value",
			"Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']")
		return
	}
	if fh.Size > maxFileBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "invalid_request_error", "",
			fmt.Sprintf("Maximum content size limit (%d) exceeded (%d bytes read)", maxFileBytes, fh.Size))
		return
	}
	duration, err := s.probe(r.Context(), fh, ext)
	if err != nil {
		badRequest(w, "file", "invalid_value", "Audio file might be corrupted or unsupported")
		return
	}

	s.mu.Lock()
	s.uploads = append(s.uploads, Upload{
		Fields: form.Value, FileName: fh.Filename, ContentType: fh.Header.Get("Content-Type"),
		Size: fh.Size, Duration: duration, Auth: r.Header.Get("Authorization"),
	})
	s.mu.Unlock()

	segs, text := segments(duration)
	switch format {
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, text+"\n")
	case "json":
		writeJSON(w, http.StatusOK, map[string]any{"text": text, "usage": map[string]any{"type": "duration", "seconds": math.Ceil(duration)}})
	default:
		writeJSON(w, http.StatusOK, map[string]any{
			"task":     "transcribe",
			"language": languageName(language),
			"duration": duration,
			"text":     text,
			"segments": segs,
			"usage":    map[string]any{"type": "duration", "seconds": math.Ceil(duration)},
		})
	}
}

// probe saves the upload and asks ffprobe how long its audio is.
func (s *Server) probe(ctx context.Context, fh *multipart.FileHeader, ext string) (float64, error) {
	src, err := fh.Open()
	if err != nil {
		return 0, err
	}
	defer func() { _ = src.Close() }()
	f, err := os.CreateTemp(s.dir, "upload-*"+ext)
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.Remove(f.Name()) }() //nolint:gosec // a name CreateTemp chose in the fake's directory
	if _, err := io.Copy(f, src); err != nil {
		_ = f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return ProbeAudio(ctx, f.Name())
}

// ProbeAudio returns the duration in seconds of the audio file at path, or an
// error when ffprobe finds no audio stream in it.
func ProbeAudio(ctx context.Context, path string) (float64, error) {
	// path comes after "--", so it is never read as an option.
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type", //nolint:gosec // see above
		"-of", "json", "--", path).Output()
	if err != nil {
		return 0, fmt.Errorf("ffprobe: %w", err)
	}
	type stream struct {
		CodecType string `json:"codec_type"`
	}
	var v struct {
		Streams []stream `json:"streams"`
		Format  struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return 0, fmt.Errorf("ffprobe output: %w", err)
	}
	if !slices.ContainsFunc(v.Streams, func(s stream) bool { return s.CodecType == "audio" }) {
		return 0, errors.New("no audio stream")
	}
	d, err := strconv.ParseFloat(v.Format.Duration, 64)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("no duration (%q)", v.Format.Duration)
	}
	return d, nil
}

// segment is one verbose_json segment.
type segment struct {
	ID               int     `json:"id"`
	Seek             int     `json:"seek"`
	Start            float64 `json:"start"`
	End              float64 `json:"end"`
	Text             string  `json:"text"`
	Tokens           []int   `json:"tokens"`
	Temperature      float64 `json:"temperature"`
	AvgLogprob       float64 `json:"avg_logprob"`
	CompressionRatio float64 `json:"compression_ratio"`
	NoSpeechProb     float64 `json:"no_speech_prob"`
}

// segments cuts duration into SegmentSeconds pieces; Whisper starts each
// text with a space.
func segments(duration float64) ([]segment, string) {
	segs := []segment{}
	var texts []string
	for i := 0; float64(i)*SegmentSeconds < duration; i++ {
		start := float64(i) * SegmentSeconds
		text := fmt.Sprintf(" segment %d", i)
		segs = append(segs, segment{
			ID: i, Seek: int(start * 100), Start: start, End: math.Min(start+SegmentSeconds, duration), Text: text,
			Tokens: []int{50364 + i}, AvgLogprob: -0.25, CompressionRatio: 1, NoSpeechProb: 0.01,
		})
		texts = append(texts, strings.TrimSpace(text))
	}
	return segs, strings.Join(texts, " ")
}

// languageName is what verbose_json reports for an ISO-639-1 code.
func languageName(code string) string {
	names := map[string]string{"": "english", "en": "english", "es": "spanish", "fr": "french", "de": "german",
		"it": "italian", "pt": "portuguese", "ja": "japanese", "zh": "chinese", "nl": "dutch"}
	if n, ok := names[code]; ok {
		return n
	}
	return code
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_"+randomHex(12))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in OpenAI's error shape.
func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": orNull(code)}})
}

// badRequest is a 400 invalid_request_error about param.
func badRequest(w http.ResponseWriter, param, code, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
		"message": msg, "type": "invalid_request_error", "param": orNull(param), "code": orNull(code)}})
}

// orNull is s, or JSON null for "".
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
