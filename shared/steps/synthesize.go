package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/speech"
)

// Synthesize speaks every segment with the new voice: ElevenLabs when a key
// is set (each segment one ledger call, its neighbours passed for prosody),
// espeak-ng otherwise. Clips are stored as jobs/<job>/synthesize/seg-NNNN.<ext>.
type Synthesize struct {
	*Deps
	ElevenLabs *elevenlabs.Client // nil: the local engine
	Model      string
	Voice      string // default voice when the job names none
	Local      speech.Synthesizer
}

// Name implements pipeline.Step.
func (s *Synthesize) Name() string { return job.StepSynthesize }

// Clip is one synthesized segment, as the manifest records it.
type Clip struct {
	ID    int     `json:"id"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
	Key   string  `json:"key"`
}

// Work implements pipeline.Step.
func (s *Synthesize) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	tr, err := s.loadTranscript(ctx, sc)
	if err != nil {
		return pipeline.Result{}, err
	}
	voice := sc.Job.Params.Voice
	if voice == "" {
		voice = s.Voice
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
		var key string
		if s.ElevenLabs != nil {
			key = sc.Key(s.Name(), fmt.Sprintf("seg-%04d.mp3", seg.ID))
			call := ledger.Call{Provider: "elevenlabs", Operation: "tts", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: s.Name(),
				Request: map[string]any{"voice": voice, "model": s.Model, "text": text, "previous": prev, "next": next}}
			// The ledger records the paid call before it stores the audio, so
			// a storage failure after the provider charged is not a second charge.
			o, err := s.Ledger.Do(ctx, call, func(ctx context.Context) (ledger.Outcome, error) {
				audio, u, err := s.ElevenLabs.Synthesize(ctx, elevenlabs.SpeechRequest{VoiceID: voice, ModelID: s.Model,
					Text: text, PreviousText: prev, NextText: next})
				if err != nil {
					return ledger.Outcome{}, err
				}
				us, _ := json.Marshal(u)
				return ledger.Outcome{ResultKey: key, Body: audio, ContentType: "audio/mpeg", Usage: us}, nil
			})
			if err != nil {
				return pipeline.Result{}, err
			}
			if o.Reused && o.ResultKey != key {
				// Another job of this user paid for it: keep a copy under this
				// job, which outlives that job's deletion.
				if err := s.Objects.Copy(ctx, o.ResultKey, key, 0, ""); err != nil {
					return pipeline.Result{}, fmt.Errorf("copy reused clip: %w", err)
				}
			}
			if o.Reused {
				reused++
			} else {
				paid++
				chars += len([]rune(text))
			}
		} else {
			audio, format, _, err := s.Local.Synthesize(ctx, speech.SpeechRequest{Text: text, Voice: voice, Language: tr.Language,
				PreviousText: prev, NextText: next})
			if err != nil {
				return pipeline.Result{}, err
			}
			key = sc.Key(s.Name(), fmt.Sprintf("seg-%04d.%s", seg.ID, format))
			if err := s.putBytes(ctx, key, "audio/"+format, audio); err != nil {
				return pipeline.Result{}, err
			}
			chars += len([]rune(text))
		}
		clips = append(clips, Clip{ID: seg.ID, Start: seg.Start, End: seg.End, Key: key})
	}
	manifest, err := json.Marshal(clips)
	if err != nil {
		return pipeline.Result{}, fmt.Errorf("encode clips: %w", err)
	}
	if err := s.putBytes(ctx, sc.Key(s.Name(), "clips.json"), "application/json", manifest); err != nil {
		return pipeline.Result{}, err
	}
	engine := "espeak-ng"
	if s.ElevenLabs != nil {
		engine = "elevenlabs"
	}
	return pipeline.Result{Usage: map[string]any{"engine": engine, "characters": chars, "paid_calls": paid, "reused_calls": reused, "clips": len(clips)}}, nil
}
