// Package elevenlabstest is an in-process stand-in for the ElevenLabs
// text-to-speech API that speaks its HTTP protocol, so tests run the real
// client code against it on 127.0.0.1.
//
// It serves Scribe (POST /v1/speech-to-text, multipart: the words of a known
// script, see SetScript, diarized when asked), instant voice clones
// (POST /v1/voices/add, DELETE /v1/voices/{voice_id}, see Clones) and
// POST /v1/text-to-speech/{voice_id}?output_format=mp3_...: it
// checks the xi-api-key header, the voice id (20 letters and digits), the
// output format (ElevenLabs' mp3 formats) and the JSON body (text required,
// model_id one of ElevenLabs' models, previous_text and next_text strings),
// then speaks the text with espeak-ng and encodes it with ffmpeg at the
// requested sample rate and bit rate, so the answer is real audio/mpeg of a
// plausible length. Like ElevenLabs it sends character-cost and request-id
// headers. Errors use ElevenLabs' shapes: {"detail":{"status","message"}},
// and FastAPI's {"detail":[{"loc","msg","type"}]} for invalid bodies (422).
//
// Knobs inject failures (FailNext with RateLimit, ServerError, Unauthorized,
// QuotaExceeded), slowness (SetDelay) and 200 answers that are not audio
// (NotAudioNext). Calls counts every request, failed ones included;
// Characters counts the characters of the syntheses that succeeded; Requests
// keeps the accepted requests for tests to inspect; MaxInFlight is the most
// requests it was answering at once.
//
// The fake needs espeak-ng and ffmpeg on PATH.
package elevenlabstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
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
	"unicode/utf8"

	"github.com/redub/redub/shared/provider/providertest"
)

// Server is a fake ElevenLabs API. Its methods are safe for concurrent use.
type Server struct {
	URL    string // the base URL, to give elevenlabs.New
	APIKey string // the only key the fake accepts

	// InFlight counts the requests answered at once (MaxInFlight).
	providertest.InFlight

	srv *httptest.Server
	dir string

	mu         sync.Mutex
	delay      time.Duration
	failures   []Failure
	notAudio   int
	calls      int
	characters int
	requests   []Request

	script      []Line
	sttCalls    int
	sttRequests []STTRequest
	clones      []Clone
}

// Request is an accepted text-to-speech request.
type Request struct {
	VoiceID      string
	OutputFormat string          // the output_format query parameter, "" when absent
	Body         json.RawMessage // the JSON body as sent
	Accept       string
	Seconds      float64 // the length of the audio answered (0 until it is made, or when it failed)
}

// New starts a fake on 127.0.0.1 with a random key, stopped when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	for _, tool := range []string{"espeak-ng", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("elevenlabstest: %s is needed (run `bash scripts/deps.sh ffmpeg espeak-ng`): %v", tool, err)
		}
	}
	s := &Server{APIKey: "sk_" + randomHex(24), dir: t.TempDir()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/text-to-speech/{voice_id}", s.textToSpeech)
	mux.HandleFunc("POST /v1/speech-to-text", s.speechToText)
	mux.HandleFunc("POST /v1/voices/add", s.addVoice)
	mux.HandleFunc("DELETE /v1/voices/{voice_id}", s.deleteVoice)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not Found"})
	})
	s.srv = httptest.NewServer(s.Track(mux))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

// Client returns an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Failure is an error answer to inject.
type Failure struct {
	Status  int
	Code    string // detail.status: "too_many_concurrent_requests", "invalid_api_key", ...
	Message string
	Header  http.Header // added to the answer (Retry-After, ...)
}

// RateLimit is a 429 too_many_concurrent_requests with Retry-After in whole
// seconds (rounded up).
func RateLimit(retryAfter time.Duration) Failure {
	h := http.Header{}
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	return Failure{Status: http.StatusTooManyRequests, Code: "too_many_concurrent_requests", Header: h,
		Message: "You are exceeding the maximum number of concurrent requests allowed by your subscription."}
}

// ServerError is a 500.
func ServerError() Failure {
	return Failure{Status: http.StatusInternalServerError, Code: "internal_error", Message: "An internal server error occurred."}
}

// Unauthorized is the 401 of a revoked key.
func Unauthorized() Failure {
	return Failure{Status: http.StatusUnauthorized, Code: "invalid_api_key", Message: "Invalid API key"}
}

// QuotaExceeded is ElevenLabs' answer when the account has no credits left:
// a 401 with status quota_exceeded.
func QuotaExceeded() Failure {
	return Failure{Status: http.StatusUnauthorized, Code: "quota_exceeded",
		Message: "This request exceeds your quota of 10000. You have 0 credits remaining, while 91 credits are required for this request."}
}

// FailNext makes the next n requests answer f (after the key check).
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

// NotAudioNext makes the next n valid requests answer 200 with an HTML page,
// as a misbehaving proxy would.
func (s *Server) NotAudioNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notAudio += n
}

// Calls returns how many requests arrived, failed ones included.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Characters returns the characters billed: those of the texts spoken.
func (s *Server) Characters() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.characters
}

// Requests returns the accepted requests.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// speechBody is the JSON body; pointers tell absent from empty.
type speechBody struct {
	Text         *string `json:"text"`
	ModelID      *string `json:"model_id"`
	PreviousText *string `json:"previous_text"`
	NextText     *string `json:"next_text"`
}

// models are ElevenLabs' text-to-speech models, with their character limits.
func models() map[string]int {
	return map[string]int{
		"eleven_multilingual_v2": 10_000, "eleven_v3": 5_000, "eleven_flash_v2_5": 40_000,
		"eleven_turbo_v2_5": 40_000, "eleven_flash_v2": 30_000, "eleven_turbo_v2": 30_000,
		"eleven_monolingual_v1": 10_000, "eleven_multilingual_v1": 10_000,
	}
}

var voiceIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{20}$`)

// mp3Params returns the sample rate and kbit/s of one of ElevenLabs' mp3
// output formats.
func mp3Params(format string) (rate, kbps string, ok bool) {
	switch format {
	case "mp3_22050_32", "mp3_24000_48", "mp3_44100_32", "mp3_44100_64", "mp3_44100_96", "mp3_44100_128", "mp3_44100_192":
		_, params, _ := strings.Cut(format, "_")
		rate, kbps, _ = strings.Cut(params, "_")
		return rate, kbps, true
	}
	return "", "", false
}

func (s *Server) textToSpeech(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	delay := s.delay
	s.mu.Unlock()

	// The server notices a client that gave up only once the body is read.
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeDetail(w, http.StatusRequestEntityTooLarge, "payload_too_large", "The request body is too large.")
		return
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}

	if !s.authorized(w, r) || s.injected(w) {
		return
	}

	voice := r.PathValue("voice_id")
	format := r.URL.Query().Get("output_format")
	if format == "" {
		format = "mp3_44100_128"
	}
	if !voiceIDPattern.MatchString(voice) {
		writeDetail(w, http.StatusNotFound, "voice_not_found", fmt.Sprintf("A voice with the voice_id %s was not found.", voice))
		return
	}
	if _, _, ok := mp3Params(format); !ok {
		unprocessable(w, []any{"query", "output_format"}, "elevenlabstest: the fake makes only ElevenLabs' mp3 formats", "enum")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		unprocessable(w, []any{"body"}, "Input should be a valid dictionary or object to extract fields from", "model_attributes_type")
		return
	}
	var body speechBody
	if err := json.Unmarshal(raw, &body); err != nil {
		unprocessable(w, []any{"body"}, "JSON decode error: "+err.Error(), "json_invalid")
		return
	}
	model := "eleven_multilingual_v2"
	if body.ModelID != nil {
		model = *body.ModelID
	}
	limit, known := models()[model]
	switch {
	case body.Text == nil:
		unprocessable(w, []any{"body", "text"}, "Field required", "missing")
		return
	case *body.Text == "":
		writeDetail(w, http.StatusBadRequest, "invalid_text", "Text must not be empty.")
		return
	case !known:
		writeDetail(w, http.StatusBadRequest, "model_not_found", fmt.Sprintf("A model with model ID %s does not exist.", model))
		return
	case utf8.RuneCountInString(*body.Text) > limit:
		writeDetail(w, http.StatusBadRequest, "max_character_limit_exceeded",
			fmt.Sprintf("You are sending %d characters, but the maximum allowed for %s is %d.", utf8.RuneCountInString(*body.Text), model, limit))
		return
	}

	s.mu.Lock()
	s.requests = append(s.requests, Request{VoiceID: voice, OutputFormat: r.URL.Query().Get("output_format"), Body: raw, Accept: r.Header.Get("Accept")})
	index := len(s.requests) - 1
	htmlInstead := s.notAudio > 0
	if htmlInstead {
		s.notAudio--
	}
	s.mu.Unlock()
	if htmlInstead {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
		return
	}

	audio, seconds, err := s.speak(r.Context(), *body.Text, format)
	if err != nil {
		writeDetail(w, http.StatusInternalServerError, "internal_error", "elevenlabstest: "+err.Error())
		return
	}
	chars := utf8.RuneCountInString(*body.Text)
	s.mu.Lock()
	s.requests[index].Seconds = seconds
	s.characters += chars
	s.mu.Unlock()
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(audio)))
	w.Header().Set("character-cost", strconv.Itoa(chars))
	w.Header().Set("request-id", randomHex(10))
	_, _ = w.Write(audio)
}

// authorized checks the xi-api-key header, answering 401 when it is wrong.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	switch key := r.Header.Get("xi-api-key"); {
	case key == "":
		writeDetail(w, http.StatusUnauthorized, "needs_authorization", "Neither authorization header nor xi-api-key received, please provide one.")
		return false
	case key != s.APIKey:
		writeDetail(w, http.StatusUnauthorized, "invalid_api_key", "Invalid API key")
		return false
	}
	return true
}

// injected answers the next injected failure, if there is one.
func (s *Server) injected(w http.ResponseWriter) bool {
	s.mu.Lock()
	var f *Failure
	if len(s.failures) > 0 {
		f = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	writeDetail(w, f.Status, f.Code, f.Message)
	return true
}

// speak says text with espeak-ng and encodes it as format
// (mp3_<rate>_<kbps>) with ffmpeg.
func (s *Server) speak(ctx context.Context, text, format string) ([]byte, float64, error) {
	rate, kbps, ok := mp3Params(format)
	if !ok {
		return nil, 0, fmt.Errorf("unknown format %q", format)
	}
	dir, err := os.MkdirTemp(s.dir, "tts-*")
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	txt, wav, mp3 := filepath.Join(dir, "text.txt"), filepath.Join(dir, "speech.wav"), filepath.Join(dir, "speech.mp3")
	if err := os.WriteFile(txt, []byte(text), 0o600); err != nil {
		return nil, 0, err
	}
	// The paths are the fake's own and rate and kbps come from a fixed list;
	// the text goes through a file, never the command line.
	if out, err := exec.CommandContext(ctx, "espeak-ng", "-w", wav, "-f", txt).CombinedOutput(); err != nil { //nolint:gosec // see above
		return nil, 0, fmt.Errorf("espeak-ng: %w: %s", err, out)
	}
	pcm, err := os.ReadFile(wav)
	if err != nil {
		return nil, 0, err
	}
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", //nolint:gosec // see above
		"-i", wav, "-ac", "1", "-ar", rate, "-codec:a", "libmp3lame", "-b:a", kbps+"k", "-f", "mp3", mp3).CombinedOutput(); err != nil {
		return nil, 0, fmt.Errorf("ffmpeg: %w: %s", err, out)
	}
	b, err := os.ReadFile(mp3)
	return b, wavSeconds(pcm), err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeDetail answers in ElevenLabs' error shape.
func writeDetail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"detail": map[string]any{"status": code, "message": msg}})
}

// unprocessable answers FastAPI's 422 validation error.
func unprocessable(w http.ResponseWriter, loc []any, msg, typ string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": []any{map[string]any{"loc": loc, "msg": msg, "type": typ}}})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
