package speech

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/openai"
)

// Engine names, as TRANSCRIBE_ENGINE and the transcript's "engine" say them.
const (
	EngineElevenLabs = "elevenlabs"
)

// Scribe is the ElevenLabs engine: Scribe v2 with word timestamps and
// diarization. Its speakers (speaker_0, speaker_1, ...) become "Speaker 1",
// "Speaker 2", ...; its words are split into segments with Split.
type Scribe struct {
	Client *elevenlabs.Client
	Model  string // default elevenlabs.DefaultSTTModel
	Split  SplitOptions
}

var _ Transcriber = (*Scribe)(nil)

// Transcribe implements Transcriber.
func (s *Scribe) Transcribe(ctx context.Context, wavPath string, req Request) (Transcript, Usage, error) {
	got, u, err := s.Client.Transcribe(ctx, wavPath, elevenlabs.TranscribeRequest{ModelID: s.Model, Language: req.Language,
		Diarize: true, NumSpeakers: req.NumSpeakers, Keyterms: req.Keyterms})
	if err != nil {
		return Transcript{}, Usage{}, err
	}
	words := make([]Word, 0, len(got.Words))
	for _, w := range got.Words {
		if w.Type != "" && w.Type != "word" {
			continue
		}
		words = append(words, Word{Text: w.Text, Start: clampTime(w.Start, 0), End: clampTime(w.End, 0), Speaker: speakerLabel(w.SpeakerID)})
	}
	dur := wavDuration(wavPath)
	if dur == 0 {
		dur = u.AudioSeconds
	}
	lang := req.Language
	if lang == "" {
		lang = iso639_1(got.LanguageCode)
	}
	return Transcript{Language: lang, Duration: dur, Segments: Split(words, s.Split), Engine: EngineElevenLabs}, Usage{AudioSeconds: dur}, nil
}

// speakerLabel turns Scribe's "speaker_0" into "Speaker 1".
func speakerLabel(id string) string {
	if id == "" {
		return ""
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(id, "speaker_")); err == nil && n >= 0 {
		return "Speaker " + strconv.Itoa(n+1)
	}
	return id
}

// iso639_1 maps the ISO 639-3 codes Scribe reports to the two-letter codes
// the rest of the pipeline uses, for the languages it most often hears; any
// other code is kept as it is.
func iso639_1(code string) string {
	m := map[string]string{
		"eng": "en", "spa": "es", "fra": "fr", "deu": "de", "ita": "it", "por": "pt", "nld": "nl", "pol": "pl",
		"rus": "ru", "ukr": "uk", "tur": "tr", "ara": "ar", "hin": "hi", "jpn": "ja", "kor": "ko", "cmn": "zh",
		"zho": "zh", "swe": "sv", "dan": "da", "nor": "no", "fin": "fi", "ces": "cs", "ell": "el", "heb": "he",
	}
	if v, ok := m[strings.ToLower(code)]; ok {
		return v
	}
	return code
}

func wavDuration(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	w, err := ReadWAV(f, st.Size())
	if err != nil {
		return 0
	}
	return w.Duration()
}

// Whisper is the OpenAI engine (whisper-1 by default, until OpenAI shuts it
// down on 2027-02-26, config.WhisperShutdown). It gives segments, no speakers.
type Whisper struct {
	Client *openai.Client
	Model  string
}

var _ Transcriber = (*Whisper)(nil)

// Transcribe implements Transcriber. The file must be under
// openai.MaxUploadBytes; the transcribe step cuts longer audio into pieces.
func (w *Whisper) Transcribe(ctx context.Context, wavPath string, req Request) (Transcript, Usage, error) {
	got, u, err := w.Client.Transcribe(ctx, wavPath, openai.TranscribeRequest{Model: w.Model, Language: req.Language, Prompt: keytermPrompt(req.Keyterms)})
	if err != nil {
		return Transcript{}, Usage{}, err
	}
	tr := Transcript{Language: got.Language, Duration: got.Duration, Segments: make([]Segment, 0, len(got.Segments)), Engine: EngineOpenAI}
	if req.Language != "" {
		tr.Language = req.Language
	}
	for _, s := range got.Segments {
		tr.Segments = append(tr.Segments, Segment{ID: len(tr.Segments), Start: s.Start, End: s.End, Text: strings.TrimSpace(s.Text)})
	}
	return tr, Usage{AudioSeconds: u.AudioSeconds}, nil
}

// keytermPrompt is whisper's way of being told terms: a prompt that spells
// them (OpenAI's speech-to-text guide, "prompting").
func keytermPrompt(terms []string) string {
	if len(terms) == 0 {
		return ""
	}
	return fmt.Sprintf("Glossary: %s.", strings.Join(terms, ", "))
}
