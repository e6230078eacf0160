// Package job holds recipes, jobs and their steps: what a recipe runs, how a
// job is created (idempotently), read, listed and canceled, and the state
// every step moves through. The pipeline's step functions and the API's job
// routes share it.
package job

import (
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/redub/redub/shared/apperr"
)

// Recipe names what a job produces.
type Recipe string

// The recipes.
const (
	Transcode Recipe = "transcode" // MP4 rendition, poster, 16 kHz WAV
	Captions  Recipe = "captions"  // + transcript, SRT and WebVTT (translated when asked)
	Voiceover Recipe = "voiceover" // + a new AI voice track mixed into the video
)

// Step names, in pipeline order.
const (
	StepIngest     = "ingest"
	StepTranscode  = "transcode"
	StepTranscribe = "transcribe"
	StepTranslate  = "translate"
	StepSynthesize = "synthesize"
	StepMix        = "mix"
)

// Recipes lists the recipes a caller may ask for.
func Recipes() []Recipe { return []Recipe{Transcode, Captions, Voiceover} }

// Params tune a recipe. Unknown fields are refused.
type Params struct {
	SourceLanguage string `json:"source_language,omitempty"` // spoken language, e.g. "en"; detected when empty
	TargetLanguage string `json:"target_language,omitempty"` // translate to this language when set
	Voice          string `json:"voice,omitempty"`           // synthesis voice id (voiceover)

	// NumSpeakers is a hint for diarization: how many people speak (1-32).
	NumSpeakers int `json:"num_speakers,omitempty"`
	// Keyterms are words and names (at most 100) the transcriber should
	// recognise as written and the translator should keep.
	Keyterms []string `json:"keyterms,omitempty"`
	// Voices maps speakers ("Speaker 1") to voice ids (voiceover); speakers
	// it leaves out get distinct voices from the configured list.
	Voices map[string]string `json:"voices,omitempty"`
	// CloneVoices makes an instant voice clone of each speaker from their
	// own stretches of the source (voiceover, ElevenLabs); the clones are
	// deleted after the job. It needs CloneConsent.
	CloneVoices bool `json:"clone_voices,omitempty"`
	// CloneConsent is the caller's statement that they have the right to
	// clone every voice in the source (ElevenLabs' terms require it).
	CloneConsent bool `json:"clone_consent,omitempty"`
}

// Limits of the speech params.
const (
	MaxSpeakers   = 32  // Scribe's num_speakers limit
	MaxKeyterms   = 100 // Scribe's keyterms limit
	MaxKeytermLen = 50
	speakerPrefix = "Speaker "
)

var (
	voiceRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	speakerRe = regexp.MustCompile(`^Speaker ([1-9]|[12][0-9]|3[0-2])$`)
)

// ParseRecipe checks a recipe name.
func ParseRecipe(s string) (Recipe, error) {
	for _, r := range Recipes() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", apperr.InvalidField("recipe", "unknown recipe %q (want transcode, captions or voiceover)", s)
}

// ParseParams decodes and validates params for recipe r. Empty or null raw
// params are the defaults.
func ParseParams(r Recipe, raw json.RawMessage) (Params, error) {
	var p Params
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return p, apperr.Wrap(apperr.Invalid, err, "params must be an object with source_language, target_language, voice, voices, num_speakers, keyterms, clone_voices or clone_consent")
		}
	}
	// Only supported tags, in one case: each spelling of a language would
	// otherwise be a separate paid call in the ledger.
	var err error
	if p.SourceLanguage != "" {
		if p.SourceLanguage, err = ParseLanguage("params.source_language", p.SourceLanguage); err != nil {
			return p, err
		}
	}
	if p.TargetLanguage != "" {
		if p.TargetLanguage, err = ParseLanguage("params.target_language", p.TargetLanguage); err != nil {
			return p, err
		}
	}
	if p.Voice != "" && !voiceRe.MatchString(p.Voice) {
		return p, apperr.InvalidField("params.voice", "voice must be 1-64 letters, digits, '-' or '_'")
	}
	if err := p.checkSpeech(r); err != nil {
		return p, err
	}
	if r == Transcode && (p.TargetLanguage != "" || p.Voice != "") {
		return p, apperr.InvalidField("params", "the transcode recipe takes no target_language or voice")
	}
	if r == Captions && p.Voice != "" {
		return p, apperr.InvalidField("params.voice", "the captions recipe takes no voice")
	}
	return p, nil
}

// ValidSpeaker reports whether s is a speaker label ("Speaker 1" to "Speaker 32").
func ValidSpeaker(s string) bool { return speakerRe.MatchString(s) }

// ValidVoice reports whether s has the shape of a voice id.
func ValidVoice(s string) bool { return voiceRe.MatchString(s) }

// checkSpeech validates the speaker, glossary and cloning params.
func (p *Params) checkSpeech(r Recipe) error {
	if p.NumSpeakers < 0 || p.NumSpeakers > MaxSpeakers {
		return apperr.InvalidField("params.num_speakers", "num_speakers must be 1 to %d", MaxSpeakers)
	}
	if len(p.Keyterms) > MaxKeyterms {
		return apperr.InvalidField("params.keyterms", "at most %d keyterms, not %d", MaxKeyterms, len(p.Keyterms))
	}
	for i, k := range p.Keyterms {
		k = strings.TrimSpace(k)
		if k == "" || utf8.RuneCountInString(k) > MaxKeytermLen || strings.ContainsFunc(k, unicode.IsControl) {
			return apperr.InvalidField("params.keyterms", "keyterm %d must be 1 to %d characters with no control characters", i+1, MaxKeytermLen)
		}
		p.Keyterms[i] = k
	}
	if r == Transcode && (p.NumSpeakers != 0 || len(p.Keyterms) > 0) {
		return apperr.InvalidField("params", "the transcode recipe takes no num_speakers or keyterms")
	}
	if r != Voiceover && (len(p.Voices) > 0 || p.CloneVoices || p.CloneConsent) {
		return apperr.InvalidField("params", "voices, clone_voices and clone_consent belong to the voiceover recipe")
	}
	if len(p.Voices) > MaxSpeakers {
		return apperr.InvalidField("params.voices", "voices maps at most %d speakers", MaxSpeakers)
	}
	for speaker, voice := range p.Voices {
		if !speakerRe.MatchString(speaker) {
			return apperr.InvalidField("params.voices", "voices keys are speaker labels from %q to %q, not %q", speakerPrefix+"1", speakerPrefix+"32", speaker)
		}
		if !voiceRe.MatchString(voice) {
			return apperr.InvalidField("params.voices", "the voice of %s must be 1-64 letters, digits, '-' or '_'", speaker)
		}
	}
	if p.CloneVoices && !p.CloneConsent {
		return apperr.InvalidField("params.clone_consent", "clone_voices needs clone_consent: true, your statement that you have the right to clone every voice in this media")
	}
	return nil
}

// Steps returns the steps a job of recipe r with params p runs, in order.
// Ingest happens before a job exists, so it is not among them.
func Steps(r Recipe, p Params) []string {
	switch r {
	case Transcode:
		return []string{StepTranscode}
	case Captions:
		s := []string{StepTranscode, StepTranscribe}
		if p.TargetLanguage != "" {
			s = append(s, StepTranslate)
		}
		return s
	case Voiceover:
		s := []string{StepTranscode, StepTranscribe}
		if p.TargetLanguage != "" {
			s = append(s, StepTranslate)
		}
		return append(s, StepSynthesize, StepMix)
	}
	return nil
}
