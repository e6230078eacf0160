package openaitest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/openai/openaitest"
)

// send posts body to the fake and returns the status and decoded answer.
func send(t *testing.T, s *openaitest.Server, path, contentType, auth string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(raw, &v), "%s", raw)
	return resp.StatusCode, v
}

// errorOf returns the message and code of an OpenAI error body.
func errorOf(t *testing.T, v map[string]any) (msg string, code any) {
	t.Helper()
	e, ok := v["error"].(map[string]any)
	require.True(t, ok, "want OpenAI's error shape, got %v", v)
	require.Contains(t, e, "type")
	require.Contains(t, e, "param")
	return e["message"].(string), e["code"]
}

func chatBody(schema string, strict bool) []byte {
	return fmt.Appendf(nil, `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Target language: it"},
		{"role":"user","content":"{\"segments\":[{\"id\":4,\"text\":\"hello\"}]}"}],
		"response_format":{"type":"json_schema","json_schema":{"name":"t","strict":%t,"schema":%s}}}`, strict, schema)
}

const goodSchema = `{"type":"object","additionalProperties":false,"required":["segments"],"properties":{"segments":{"type":"array",
	"items":{"type":"object","additionalProperties":false,"required":["id","text"],"properties":{"id":{"type":"integer"},"text":{"type":"string"}}}}}}`

func TestChatCompletions(t *testing.T) {
	t.Parallel()
	s := openaitest.New(t)
	auth := "Bearer " + s.APIKey

	status, v := send(t, s, "/chat/completions", "application/json", auth, chatBody(goodSchema, true))
	require.Equal(t, http.StatusOK, status)
	choice := v["choices"].([]any)[0].(map[string]any)
	require.Equal(t, "stop", choice["finish_reason"])
	require.JSONEq(t, `{"segments":[{"id":4,"text":"[it] hello"}]}`, choice["message"].(map[string]any)["content"].(string))
	require.Contains(t, v, "usage")

	// What strict mode refuses, the fake refuses.
	status, v = send(t, s, "/chat/completions", "application/json", auth, chatBody(strings.Replace(goodSchema, `"required":["id","text"]`, `"required":["id"]`, 1), true))
	require.Equal(t, http.StatusBadRequest, status)
	msg, _ := errorOf(t, v)
	require.Contains(t, msg, "Missing 'text'")

	status, v = send(t, s, "/chat/completions", "application/json", auth, chatBody(strings.Replace(goodSchema, `"additionalProperties":false,"required":["segments"]`, `"required":["segments"]`, 1), true))
	require.Equal(t, http.StatusBadRequest, status)
	msg, _ = errorOf(t, v)
	require.Contains(t, msg, "'additionalProperties' is required to be supplied and to be false")

	status, _ = send(t, s, "/chat/completions", "application/json", auth, chatBody(goodSchema, false))
	require.Equal(t, http.StatusBadRequest, status)

	status, _ = send(t, s, "/chat/completions", "application/json", auth, []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`))
	require.Equal(t, http.StatusBadRequest, status)

	status, _ = send(t, s, "/chat/completions", "application/json", auth, []byte(`{not json`))
	require.Equal(t, http.StatusBadRequest, status)

	// No key, a wrong key.
	status, v = send(t, s, "/chat/completions", "application/json", "", chatBody(goodSchema, true))
	require.Equal(t, http.StatusUnauthorized, status)
	_, code := errorOf(t, v)
	require.Nil(t, code)
	status, v = send(t, s, "/chat/completions", "application/json", "Bearer sk-wrong-0123456789", chatBody(goodSchema, true))
	require.Equal(t, http.StatusUnauthorized, status)
	msg, code = errorOf(t, v)
	require.Equal(t, "invalid_api_key", code)
	require.Contains(t, msg, "sk-wr")
	require.NotContains(t, msg, "sk-wrong-0123456789", "masked, as OpenAI does")

	require.Len(t, s.ChatRequests(), 1, "only accepted requests are kept")
	require.Equal(t, 8, s.Calls().ChatCompletions, "every request is counted")
}

// form builds a transcription upload.
func form(t *testing.T, fields map[string]string, name string, file []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		require.NoError(t, w.WriteField(k, v))
	}
	if name != "" {
		part, err := w.CreateFormFile("file", name)
		require.NoError(t, err)
		_, err = part.Write(file)
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	return buf.Bytes(), w.FormDataContentType()
}

func TestTranscriptions(t *testing.T) {
	t.Parallel()
	s := openaitest.New(t)
	auth := "Bearer " + s.APIKey
	wav := filepath.Join(t.TempDir(), "a.wav")
	out, err := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=4.5", wav).CombinedOutput()
	require.NoError(t, err, "%s", out)
	audio, err := os.ReadFile(wav)
	require.NoError(t, err)

	body, ct := form(t, map[string]string{"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": "segment"}, "a.wav", audio)
	status, v := send(t, s, "/audio/transcriptions", ct, auth, body)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "transcribe", v["task"])
	require.Equal(t, "english", v["language"])
	require.InDelta(t, 4.5, v["duration"], 0.05)
	require.Len(t, v["segments"], 3)
	last := v["segments"].([]any)[2].(map[string]any)
	require.Equal(t, " segment 2", last["text"])
	require.InDelta(t, 4.5, last["end"], 0.05)

	// The default format is json: text only.
	body, ct = form(t, map[string]string{"model": "whisper-1"}, "a.wav", audio)
	status, v = send(t, s, "/audio/transcriptions", ct, auth, body)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "segment 0 segment 1 segment 2", v["text"])
	require.NotContains(t, v, "segments")

	bad := []struct {
		name   string
		fields map[string]string
		file   string
		data   []byte
		status int
		want   string
	}{
		{"no model", map[string]string{}, "a.wav", audio, 400, "model"},
		{"unknown model", map[string]string{"model": "whisper-2"}, "a.wav", audio, 404, "does not exist"},
		{"granularities need verbose_json", map[string]string{"model": "whisper-1", "timestamp_granularities[]": "segment"}, "a.wav", audio, 400, "verbose_json"},
		{"gpt-4o-transcribe has no verbose_json", map[string]string{"model": "gpt-4o-transcribe", "response_format": "verbose_json"}, "a.wav", audio, 400, "not compatible"},
		{"language is ISO-639-1", map[string]string{"model": "whisper-1", "language": "english"}, "a.wav", audio, 400, "ISO-639-1"},
		{"no file", map[string]string{"model": "whisper-1"}, "", nil, 400, "file"},
		{"bad extension", map[string]string{"model": "whisper-1"}, "a.txt", audio, 400, "Invalid file format"},
		{"not audio", map[string]string{"model": "whisper-1"}, "b.wav", []byte("RIFF but not really"), 400, "corrupted"},
	}
	for _, tt := range bad {
		body, ct := form(t, tt.fields, tt.file, tt.data)
		status, v := send(t, s, "/audio/transcriptions", ct, auth, body)
		require.Equal(t, tt.status, status, tt.name)
		msg, _ := errorOf(t, v)
		require.Contains(t, msg, tt.want, tt.name)
	}
	require.Len(t, s.Uploads(), 2)
}
