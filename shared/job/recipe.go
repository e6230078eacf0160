// Package job holds recipes, jobs and their steps: what a recipe runs, how a
// job is created (idempotently), read, listed and canceled, and the state
// every step moves through. The pipeline's step functions and the API's job
// routes share it.
package job

import (
	"encoding/json"
	"regexp"
	"strings"

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
}

var voiceRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

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
			return p, apperr.Wrap(apperr.Invalid, err, "params must be an object with source_language, target_language or voice")
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
	if r == Transcode && (p.TargetLanguage != "" || p.Voice != "") {
		return p, apperr.InvalidField("params", "the transcode recipe takes no target_language or voice")
	}
	if r == Captions && p.Voice != "" {
		return p, apperr.InvalidField("params.voice", "the captions recipe takes no voice")
	}
	return p, nil
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
