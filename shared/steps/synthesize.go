package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/speech"
)

// Voicer is an engine of the synthesize step: it speaks one segment and
// stores the clip at key (or says where the clip it reused is), reporting
// whether the segment was paid for.
type Voicer interface {
	Voice(ctx context.Context, sc *pipeline.Context, l Line, key string) (clip string, paid bool, err error)
}

// Line is one segment to speak, with its neighbours for prosody.
type Line struct {
	Text, Previous, Next, Voice, Language string
}

// Synthesize speaks every segment with the new voice through its engine
// (ElevenLabs or espeak-ng, chosen at cold start: Wiring.Synthesize). Clips
// are stored as jobs/<job>/synthesize/seg-NNNN.<ext>.
type Synthesize struct {
	*Deps
	Engine     Voicer
	Ext        string   // the clips' extension: "mp3" (ElevenLabs) or "wav" (espeak-ng)
	Voice      string   // default voice when the job names none
	Voices     []string // voices handed to speakers the job does not map (ELEVENLABS_VOICES, or espeak-ng's variants)
	EngineName string   // for the step's usage: "elevenlabs" or "espeak-ng"
	// Cloner makes and deletes instant voice clones (ElevenLabs); nil when
	// the engine cannot clone, and a job that asks for clones then fails
	// with that reason.
	Cloner Cloner
}

// Name implements pipeline.Step.
func (s *Synthesize) Name() string { return job.StepSynthesize }

// Clip is one synthesized segment, as the manifest records it.
type Clip struct {
	ID      int     `json:"id"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Key     string  `json:"key"`
	Speaker string  `json:"speaker,omitempty"`
	Voice   string  `json:"voice,omitempty"`
}

// Work implements pipeline.Step.
func (s *Synthesize) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	tr, err := s.loadTranscript(ctx, sc)
	if err != nil {
		return pipeline.Result{}, err
	}
	first := sc.Job.Params.Voice
	if first == "" {
		first = s.Voice
	}
	speakers := speech.Speakers(tr.Segments)
	mapped := sc.Job.Params.Voices
	if sc.Job.Params.CloneVoices {
		clones, cleanup, err := s.cloneVoices(ctx, sc, tr, speakers)
		defer cleanup()
		if err != nil {
			return pipeline.Result{}, err
		}
		for sp, v := range sc.Job.Params.Voices {
			clones[sp] = v // a voice the caller named wins over a clone
		}
		mapped = clones
	}
	voices := AssignVoices(speakers, mapped, first, s.Voices)
	if v := mapped[""]; v != "" {
		voices[""] = v // the clone of an undiarized transcript's one voice
	}
	var clips []Clip
	chars, paid, reused := 0, 0, 0
	for i, seg := range tr.Segments {
		if sc.Canceled(ctx) {
			return pipeline.Result{}, pipeline.ErrCanceled
		}
		sc.Progress(ctx, s.Name(), 100*float64(i)/float64(max(len(tr.Segments), 1)), fmt.Sprintf("voicing segment %d of %d", i+1, len(tr.Segments)))
		text := strings.TrimSpace(seg.Text)
		if text == "" {
			continue
		}
		prev, next := "", ""
		if i > 0 {
			prev = tr.Segments[i-1].Text
		}
		if i+1 < len(tr.Segments) {
			next = tr.Segments[i+1].Text
		}
		voice := first
		if v, ok := voices[seg.Speaker]; ok {
			voice = v
		}
		key := sc.Key(s.Name(), fmt.Sprintf("seg-%04d.%s", seg.ID, s.Ext))
		clip, wasPaid, err := s.Engine.Voice(ctx, sc, Line{Text: text, Previous: prev, Next: next, Voice: voice, Language: tr.Language}, key)
		if err != nil {
			return pipeline.Result{}, err
		}
		key = clip
		if wasPaid {
			paid++
			chars += len([]rune(text))
		} else {
			reused++
		}
		clips = append(clips, Clip{ID: seg.ID, Start: seg.Start, End: seg.End, Key: key, Speaker: seg.Speaker, Voice: voice})
	}
	manifest, err := json.Marshal(clips)
	if err != nil {
		return pipeline.Result{}, fmt.Errorf("encode clips: %w", err)
	}
	if err := s.putBytes(ctx, sc.Key(s.Name(), "clips.json"), "application/json", manifest); err != nil {
		return pipeline.Result{}, err
	}
	engine := s.EngineName
	return pipeline.Result{Usage: map[string]any{"engine": engine, "characters": chars, "paid_calls": paid, "reused_calls": reused, "clips": len(clips),
		"speakers": len(speakers), "voices": len(distinct(voices))}}, nil
}

// AssignVoices gives each speaker (in order of first appearance) a voice:
// the one mapped gives it, else the first of first, pool... not yet taken
// by another speaker, so speakers sound different while voices last; when
// they run out, voices are reused in turn.
func AssignVoices(speakers []string, mapped map[string]string, first string, pool []string) map[string]string {
	out := map[string]string{}
	used := map[string]bool{}
	for _, sp := range speakers {
		if v, ok := mapped[sp]; ok && v != "" {
			out[sp] = v
			used[v] = true
		}
	}
	var candidates []string
	for _, v := range append([]string{first}, pool...) {
		if v != "" && !slices.Contains(candidates, v) {
			candidates = append(candidates, v)
		}
	}
	turn := 0
	for _, sp := range speakers {
		if _, ok := out[sp]; ok {
			continue
		}
		i := slices.IndexFunc(candidates, func(v string) bool { return !used[v] })
		switch {
		case i >= 0:
			out[sp] = candidates[i]
			used[candidates[i]] = true
		case len(candidates) > 0:
			out[sp] = candidates[turn%len(candidates)]
			turn++
		default:
			out[sp] = first
		}
	}
	return out
}

func distinct(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

// ElevenLabsVoicer speaks through ElevenLabs, each segment one ledger call.
type ElevenLabsVoicer struct {
	*Deps
	Client *elevenlabs.Client
	Model  string
}

// Voice implements Voicer.
func (e *ElevenLabsVoicer) Voice(ctx context.Context, sc *pipeline.Context, l Line, key string) (string, bool, error) {
	call := ledger.Call{Provider: "elevenlabs", Operation: "tts", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: job.StepSynthesize,
		Request: map[string]any{"voice": l.Voice, "model": e.Model, "text": l.Text, "previous": l.Previous, "next": l.Next}}
	// The ledger records the paid call before it stores the audio, so a
	// storage failure after the provider charged is not a second charge.
	o, err := e.Ledger.Do(ctx, call, func(ctx context.Context) (ledger.Outcome, error) {
		audio, u, err := e.Client.Synthesize(ctx, elevenlabs.SpeechRequest{VoiceID: l.Voice, ModelID: e.Model,
			Text: l.Text, PreviousText: l.Previous, NextText: l.Next})
		if err != nil {
			return ledger.Outcome{}, err
		}
		us, _ := json.Marshal(u)
		return ledger.Outcome{ResultKey: key, Body: audio, ContentType: "audio/mpeg", Usage: us}, nil
	})
	if err != nil {
		return "", false, err
	}
	if o.Reused && o.ResultKey != key {
		// Another job of this user paid for it: keep a copy under this job,
		// which outlives that job's deletion.
		if err := e.Objects.Copy(ctx, o.ResultKey, key, 0, ""); err != nil {
			return "", false, fmt.Errorf("copy reused clip: %w", err)
		}
	}
	return key, !o.Reused, nil
}

// LocalVoicer speaks offline (espeak-ng).
type LocalVoicer struct {
	*Deps
	Engine speech.Synthesizer
}

// Voice implements Voicer.
func (v *LocalVoicer) Voice(ctx context.Context, _ *pipeline.Context, l Line, key string) (string, bool, error) {
	audio, format, _, err := v.Engine.Synthesize(ctx, speech.SpeechRequest{Text: l.Text, Voice: l.Voice, Language: l.Language,
		PreviousText: l.Previous, NextText: l.Next})
	if err != nil {
		return "", false, err
	}
	if err := v.putBytes(ctx, key, "audio/"+format, audio); err != nil {
		return "", false, err
	}
	return key, true, nil
}
