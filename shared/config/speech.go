package config

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// WhisperShutdown is the day OpenAI shuts down whisper-1, gpt-4o-transcribe,
// gpt-4o-mini-transcribe and gpt-4o-transcribe-diarize (OpenAI deprecations
// page, notice of 2026-08-26). Its replacement, gpt-transcribe, gives no
// word or segment timestamps, which captions and voiceover need.
func WhisperShutdown() time.Time { return time.Date(2027, time.February, 26, 0, 0, 0, 0, time.UTC) }

// whisperWarning is how long before WhisperShutdown a cold start warns.
const whisperWarning = 30 * 24 * time.Hour

// Transcription engines (TRANSCRIBE_ENGINE).
const (
	EngineAuto       = "auto"
	EngineElevenLabs = "elevenlabs"
	EngineOpenAI     = "openai"
	EngineLocal      = "local"
)

// Speech is how speech is turned into text and voices are chosen.
type Speech struct {
	// Engine is what TRANSCRIBE_ENGINE resolved to: elevenlabs, openai or
	// local (never auto).
	Engine string
	// Voices is ELEVENLABS_VOICES: voice ids handed to a job's speakers in
	// order when the job maps none; empty means Models.Voice for everyone.
	Voices []string
	// ScribeModel is ELEVENLABS_STT_MODEL, default scribe_v2.
	ScribeModel string
	// SlotAware is SLOT_AWARE_TRANSLATION (default true): translations get
	// each segment's duration and character budget, and a line that would
	// need more than 1.15x tempo is rewritten shorter once.
	SlotAware bool
	// Concurrency is how many requests one invocation keeps in flight to
	// each speech provider (OPENAI_CONCURRENCY, ELEVENLABS_CONCURRENCY,
	// LOCAL_SPEECH_CONCURRENCY): the transcribe step's pieces and the
	// synthesize step's segments run that many at a time.
	Concurrency Concurrency
}

// Concurrency is the per-provider limit on one invocation's requests in
// flight.
type Concurrency struct {
	OpenAI     int // OPENAI_CONCURRENCY, default DefaultOpenAIConcurrency
	ElevenLabs int // ELEVENLABS_CONCURRENCY, default DefaultElevenLabsConcurrency
	Local      int // LOCAL_SPEECH_CONCURRENCY (pocketsphinx, espeak-ng), default DefaultLocalSpeechConcurrency
}

// Concurrency defaults.
//
// ElevenLabs limits requests in flight per account by plan (its help
// center, "API Error Code 429", read 2026-12: Free 2, Starter 3, Creator 5,
// Pro 10, Scale 15, Business 15); the default is the Free plan's, so no plan
// is exceeded by one invocation. OpenAI limits requests and tokens per
// minute by usage tier, not requests in flight; 4 keeps a 2-hour source's
// pieces (about 13 minutes of 16 kHz WAV each) well under tier 1's minute
// limits. The offline engines are CPU-bound processes: 2 keeps the
// transcribe and synthesize functions' 1-2 vCPUs busy while one process
// waits on storage.
const (
	DefaultOpenAIConcurrency      = 4
	DefaultElevenLabsConcurrency  = 2
	DefaultLocalSpeechConcurrency = 2
	maxConcurrency                = 64
)

var (
	voiceIDRe = regexp.MustCompile(`^[A-Za-z0-9]{20}$`)
	modelIDRe = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)
)

// speech reads TRANSCRIBE_ENGINE, ELEVENLABS_VOICES, ELEVENLABS_STT_MODEL,
// SLOT_AWARE_TRANSLATION and the providers' concurrency.
// It runs after providers and models, whose keys and model it reads.
func (l *loader) speech(c *Config) {
	v, name, ssm := l.lookup("TRANSCRIBE_ENGINE")
	engine := strings.ToLower(v)
	switch engine {
	case "", EngineAuto:
		engine = EngineLocal
		switch {
		case c.ElevenLabsAPIKey != "":
			engine = EngineElevenLabs
		case c.OpenAIAPIKey != "":
			engine = EngineOpenAI
		}
	case EngineElevenLabs:
		if c.ElevenLabsAPIKey == "" {
			l.fail(name, ssm, "is elevenlabs, which needs ELEVENLABS_API_KEY")
		}
	case EngineOpenAI:
		if c.OpenAIAPIKey == "" {
			l.fail(name, ssm, "is openai, which needs OPENAI_API_KEY")
		}
	case EngineLocal:
	default:
		l.fail(name, ssm, fmt.Sprintf("is %q, want auto, elevenlabs, openai or local", v))
	}
	c.Speech.Engine = engine
	if engine == EngineOpenAI && retiring(c.Models.Transcribe) {
		day := WhisperShutdown().Format(time.DateOnly)
		switch left := WhisperShutdown().Sub(l.now); {
		case left <= 0:
			l.fail(name, ssm, fmt.Sprintf("picks openai (%s), which OpenAI shut down on %s; set TRANSCRIBE_ENGINE=elevenlabs with ELEVENLABS_API_KEY (Scribe, with word timestamps and speakers) or TRANSCRIBE_ENGINE=local",
				c.Models.Transcribe, day))
		case left < whisperWarning:
			l.warn("TRANSCRIBE_ENGINE picks openai (%s), which OpenAI shuts down on %s (in %d days); switch to TRANSCRIBE_ENGINE=elevenlabs with ELEVENLABS_API_KEY before then",
				c.Models.Transcribe, day, int(math.Ceil(left.Hours()/24)))
		}
	}

	v, name, ssm = l.lookup("ELEVENLABS_VOICES")
	for _, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		switch {
		case id == "":
		case !voiceIDRe.MatchString(id):
			l.fail(name, ssm, fmt.Sprintf("lists %q, which is not an ElevenLabs voice id (20 letters and digits)", id))
		default:
			c.Speech.Voices = append(c.Speech.Voices, id)
		}
	}
	c.Speech.SlotAware = true
	switch v, name, ssm := l.lookup("SLOT_AWARE_TRANSLATION"); strings.ToLower(v) {
	case "", "true", "1", "on":
	case "false", "0", "off":
		c.Speech.SlotAware = false
	default:
		l.fail(name, ssm, fmt.Sprintf("is %q, want true or false", v))
	}
	c.Speech.Concurrency = Concurrency{
		OpenAI:     int(l.positiveInt("OPENAI_CONCURRENCY", DefaultOpenAIConcurrency, maxConcurrency)),
		ElevenLabs: int(l.positiveInt("ELEVENLABS_CONCURRENCY", DefaultElevenLabsConcurrency, maxConcurrency)),
		Local:      int(l.positiveInt("LOCAL_SPEECH_CONCURRENCY", DefaultLocalSpeechConcurrency, maxConcurrency)),
	}
	c.Speech.ScribeModel = "scribe_v2"
	if v, name, ssm = l.lookup("ELEVENLABS_STT_MODEL"); v != "" {
		if !modelIDRe.MatchString(v) {
			l.fail(name, ssm, fmt.Sprintf("is %q, not a model id", v))
		} else {
			c.Speech.ScribeModel = v
		}
	}
}

// retiring reports whether an OpenAI transcription model is among those shut
// down on WhisperShutdown().
func retiring(model string) bool {
	switch model {
	case "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-diarize":
		return true
	}
	return strings.HasPrefix(model, "gpt-4o-transcribe") || strings.HasPrefix(model, "gpt-4o-mini-transcribe")
}
