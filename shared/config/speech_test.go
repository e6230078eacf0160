package config_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
)

func TestTranscribeEngineAuto(t *testing.T) {
	t.Parallel()
	today := time.Date(2026, time.December, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"no keys: local", nil, config.EngineLocal},
		{"only OPENAI_API_KEY: openai", map[string]string{"OPENAI_API_KEY": "sk-test"}, config.EngineOpenAI},
		{"only ELEVENLABS_API_KEY: elevenlabs", map[string]string{"ELEVENLABS_API_KEY": "sk_el"}, config.EngineElevenLabs},
		{"both keys: elevenlabs first", map[string]string{"OPENAI_API_KEY": "sk-test", "ELEVENLABS_API_KEY": "sk_el"}, config.EngineElevenLabs},
		{"explicit openai over elevenlabs", map[string]string{"OPENAI_API_KEY": "sk-test", "ELEVENLABS_API_KEY": "sk_el", "TRANSCRIBE_ENGINE": "OpenAI"}, config.EngineOpenAI},
		{"explicit local with keys", map[string]string{"ELEVENLABS_API_KEY": "sk_el", "TRANSCRIBE_ENGINE": "local"}, config.EngineLocal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := devEnv()
			for k, v := range tt.vars {
				env[k] = v
			}
			c, err := config.LoadAt(context.Background(), getenv(env), nil, today)
			require.NoError(t, err)
			require.Equal(t, tt.want, c.Speech.Engine)
			for _, w := range c.Warnings {
				require.NotContains(t, w, "whisper-1", "86 days before the shutdown: no warning yet")
			}
		})
	}
}

func TestTranscribeEngineRefusals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ engine, key string }{{"elevenlabs", ""}, {"openai", ""}, {"scribe", "x"}} {
		env := devEnv()
		env["TRANSCRIBE_ENGINE"] = tt.engine
		_, err := config.Load(context.Background(), getenv(env), nil)
		require.Error(t, err, tt.engine)
		require.Equal(t, []string{"TRANSCRIBE_ENGINE"}, varErrorNames(err))
	}
	env := devEnv()
	env["ELEVENLABS_VOICES"] = "21m00Tcm4TlvDq8ikWAM, not-a-voice"
	_, err := config.Load(context.Background(), getenv(env), nil)
	require.Equal(t, []string{"ELEVENLABS_VOICES"}, varErrorNames(err))
	env["ELEVENLABS_VOICES"] = "21m00Tcm4TlvDq8ikWAM, AZnzlk1XvdvUeBnXmlld"
	c, err := config.Load(context.Background(), getenv(env), nil)
	require.NoError(t, err)
	require.Equal(t, []string{"21m00Tcm4TlvDq8ikWAM", "AZnzlk1XvdvUeBnXmlld"}, c.Speech.Voices)
}

// whisper-1 is warned about in its last 30 days and refused from the day
// OpenAI shuts it down, with the date and the alternative in the error.
func TestWhisperShutdown(t *testing.T) {
	t.Parallel()
	env := devEnv()
	env["OPENAI_API_KEY"] = "sk-test"
	shutdown := config.WhisperShutdown()
	require.Equal(t, "2027-02-26", shutdown.Format(time.DateOnly))

	c, err := config.LoadAt(context.Background(), getenv(env), nil, shutdown.Add(-10*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, config.EngineOpenAI, c.Speech.Engine)
	var warned string
	for _, w := range c.Warnings {
		if strings.Contains(w, "whisper-1") {
			warned = w
		}
	}
	require.Contains(t, warned, "2027-02-26")
	require.Contains(t, warned, "in 10 days")
	require.Contains(t, warned, "TRANSCRIBE_ENGINE=elevenlabs")

	for _, vars := range []map[string]string{{}, {"TRANSCRIBE_ENGINE": "openai"}} {
		for k, v := range vars {
			env[k] = v
		}
		_, err = config.LoadAt(context.Background(), getenv(env), nil, shutdown.Add(time.Hour))
		require.Error(t, err)
		require.Equal(t, []string{"TRANSCRIBE_ENGINE"}, varErrorNames(err))
		require.Contains(t, err.Error(), "2027-02-26")
		require.Contains(t, err.Error(), "TRANSCRIBE_ENGINE=elevenlabs")
	}

	// A model OpenAI keeps (none today, but a configured one) is not refused.
	env["OPENAI_TRANSCRIBE_MODEL"] = "gpt-transcribe-timestamps"
	_, err = config.LoadAt(context.Background(), getenv(env), nil, shutdown.Add(time.Hour))
	require.NoError(t, err)
}

func TestSpeechConcurrency(t *testing.T) {
	t.Parallel()
	c, err := config.Load(context.Background(), getenv(devEnv()), nil)
	require.NoError(t, err)
	require.Equal(t, config.Concurrency{OpenAI: config.DefaultOpenAIConcurrency, ElevenLabs: config.DefaultElevenLabsConcurrency,
		Local: config.DefaultLocalSpeechConcurrency}, c.Speech.Concurrency, "defaults")

	env := devEnv()
	env["OPENAI_CONCURRENCY"], env["ELEVENLABS_CONCURRENCY"], env["LOCAL_SPEECH_CONCURRENCY"] = "8", "15", "1"
	c, err = config.Load(context.Background(), getenv(env), nil)
	require.NoError(t, err)
	require.Equal(t, config.Concurrency{OpenAI: 8, ElevenLabs: 15, Local: 1}, c.Speech.Concurrency)

	env["OPENAI_CONCURRENCY"], env["ELEVENLABS_CONCURRENCY"], env["LOCAL_SPEECH_CONCURRENCY"] = "0", "65", "two"
	_, err = config.Load(context.Background(), getenv(env), nil)
	require.ElementsMatch(t, []string{"OPENAI_CONCURRENCY", "ELEVENLABS_CONCURRENCY", "LOCAL_SPEECH_CONCURRENCY"}, varErrorNames(err))
}
