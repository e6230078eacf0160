package elevenlabstest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
)

type answer struct {
	status      int
	contentType string
	body        []byte
	header      http.Header
}

func send(t *testing.T, s *elevenlabstest.Server, path, key, contentType, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if key != "" {
		req.Header.Set("xi-api-key", key)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), raw, resp.Header}
}

func detail(t *testing.T, a answer) any {
	t.Helper()
	var v struct {
		Detail any `json:"detail"`
	}
	require.NoError(t, json.Unmarshal(a.body, &v), "%s", a.body)
	return v.Detail
}

func TestTextToSpeech(t *testing.T) {
	t.Parallel()
	s := elevenlabstest.New(t)
	const voice = "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"

	// No output_format means mp3_44100_128; the answer is MP3.
	a := send(t, s, voice, s.APIKey, "application/json", `{"text":"Testing one two three."}`)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "audio/mpeg", a.contentType)
	require.True(t, strings.HasPrefix(string(a.body), "ID3") || (a.body[0] == 0xFF && a.body[1]&0xE0 == 0xE0))
	require.Equal(t, "22", a.header.Get("character-cost"))
	require.Equal(t, 22, s.Characters())

	// Refusals in ElevenLabs' shapes.
	a = send(t, s, voice, "", "application/json", `{"text":"x"}`)
	require.Equal(t, http.StatusUnauthorized, a.status)
	require.Equal(t, "needs_authorization", detail(t, a).(map[string]any)["status"])

	a = send(t, s, voice, "wrong", "application/json", `{"text":"x"}`)
	require.Equal(t, http.StatusUnauthorized, a.status)
	require.Equal(t, "invalid_api_key", detail(t, a).(map[string]any)["status"])

	a = send(t, s, voice, s.APIKey, "application/json", `{"model_id":"eleven_multilingual_v2"}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.status)
	item := detail(t, a).([]any)[0].(map[string]any)
	require.Equal(t, []any{"body", "text"}, item["loc"])
	require.Equal(t, "missing", item["type"])

	a = send(t, s, voice, s.APIKey, "text/plain", `{"text":"x"}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.status)

	a = send(t, s, voice, s.APIKey, "application/json", `{"text":"x","previous_text":7}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.status)

	a = send(t, s, voice+"?output_format=pcm_16000", s.APIKey, "application/json", `{"text":"x"}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.status)

	a = send(t, s, "/v1/text-to-speech/short", s.APIKey, "application/json", `{"text":"x"}`)
	require.Equal(t, http.StatusNotFound, a.status)
	require.Equal(t, "voice_not_found", detail(t, a).(map[string]any)["status"])

	a = send(t, s, "/v1/speech", s.APIKey, "application/json", `{"text":"x"}`)
	require.Equal(t, http.StatusNotFound, a.status)

	require.Len(t, s.Requests(), 1)
	require.Equal(t, "", s.Requests()[0].OutputFormat)
	require.Equal(t, 8, s.Calls(), "requests to other paths are not counted")
	require.Equal(t, 22, s.Characters())
}
