package speech

import "context"

// Segment is one timed piece of a transcript. Times are seconds from the
// start of the audio. Speaker is a label ("Speaker 1") when the engine tells
// speakers apart, "" otherwise; Words are the recognised words when the
// engine gives word times; Source is the original text of a translated
// segment; Voice is the voice that spoke it (synthesize fills it in).
type Segment struct {
	ID      int     `json:"id"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Text    string  `json:"text"`
	Speaker string  `json:"speaker,omitempty"`
	Source  string  `json:"source,omitempty"`
	Voice   string  `json:"voice,omitempty"`
	Words   []Word  `json:"words,omitempty"`
}

// Word is one recognised word with its times (seconds) and speaker.
type Word struct {
	Text    string  `json:"text"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Speaker string  `json:"speaker,omitempty"`
}

// Speakers returns the distinct speaker labels of segs, in order of first
// appearance ("" is not a speaker).
func Speakers(segs []Segment) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range segs {
		if s.Speaker != "" && !seen[s.Speaker] {
			seen[s.Speaker] = true
			out = append(out, s.Speaker)
		}
	}
	return out
}

// Transcript is what a Transcriber heard.
type Transcript struct {
	Language string    `json:"language"` // what the engine heard or assumed ("en")
	Duration float64   `json:"duration"` // seconds of audio
	Segments []Segment `json:"segments"` // in order, IDs from 0; empty for silence
	Engine   string    `json:"engine"`   // "elevenlabs", "openai" or "pocketsphinx"
}

// Request is how to transcribe: hints an engine may use or ignore.
type Request struct {
	Language    string   // spoken language ("en"); "" lets the engine detect it
	NumSpeakers int      // expected speakers (0: let the engine decide)
	Keyterms    []string // words and names to recognise as written
}

// Usage is what one provider call consumed, for the ledger and the job's
// usage totals. Fields an engine does not count stay zero.
type Usage struct {
	AudioSeconds     float64 `json:"audio_seconds,omitempty"`
	Characters       int     `json:"characters,omitempty"`
	PromptTokens     int     `json:"prompt_tokens,omitempty"`
	CompletionTokens int     `json:"completion_tokens,omitempty"`
}

// SpeechRequest is one piece of text to speak.
//
//nolint:revive // the name is the contract the provider clients already implement
type SpeechRequest struct {
	Text     string
	Voice    string // provider-specific voice; engines that cannot use it ignore it
	Language string // BCP 47 tag or ISO 639 code ("en", "pt-BR"); "" means English
	// PreviousText and NextText are the neighbouring segments, which some
	// providers use to keep the intonation continuous. They are not spoken.
	PreviousText, NextText string
}

// Transcriber turns speech into timed text.
type Transcriber interface {
	// Transcribe transcribes wavPath, a 16 kHz mono 16-bit PCM WAV file.
	// req holds hints (language, speakers, key terms) an engine may ignore.
	// Silence gives a Transcript with no segments, not an error.
	Transcribe(ctx context.Context, wavPath string, req Request) (Transcript, Usage, error)
}

// Synthesizer turns text into speech.
type Synthesizer interface {
	// Synthesize speaks req.Text and returns the audio and its format
	// ("mp3" or "wav").
	Synthesize(ctx context.Context, req SpeechRequest) (audio []byte, format string, usage Usage, err error)
}
