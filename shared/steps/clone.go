package steps

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/speech"
)

// Cloner makes instant voice clones and deletes them (ElevenLabs).
type Cloner interface {
	AddVoice(ctx context.Context, name string, samples []string) (string, error)
	DeleteVoice(ctx context.Context, voiceID string) error
}

// maxCloneSample is how much of a speaker's speech goes into a clone:
// ElevenLabs advises one to two minutes of clean audio for an instant clone.
const maxCloneSample = 120.0

// cloneVoices makes one instant clone per speaker from that speaker's own
// segments of the job's speech WAV (cut at the segments' times, so no other
// speaker's words are in it) and returns speaker -> clone id. cleanup
// deletes every clone made, and is safe to call when none were: the clones
// live only as long as this synthesis.
func (s *Synthesize) cloneVoices(ctx context.Context, sc *pipeline.Context, tr speech.Transcript, speakers []string) (map[string]string, func(), error) {
	made := map[string]string{}
	cleanup := func() {
		// The job's context may be ending; deleting the clones must not.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for sp, id := range made {
			if err := s.Cloner.DeleteVoice(dctx, id); err != nil {
				s.Log.ErrorContext(ctx, "delete a voice clone", "speaker", sp, "voice_id", id, "error", err.Error())
			}
		}
	}
	if s.Cloner == nil {
		return made, cleanup, pipeline.Fail("voice cloning needs ElevenLabs, which this service has no key for")
	}
	if len(speakers) == 0 {
		speakers = []string{""}
	}
	sc.Progress(ctx, s.Name(), 1, "cloning voices")
	wav, err := s.download(ctx, SpeechKey(sc), sc.Dir, "speech.wav")
	if err != nil {
		return made, cleanup, err
	}
	for i, sp := range speakers {
		var spans []media.Span
		total := 0.0
		for _, seg := range tr.Segments {
			if seg.Speaker != sp || total >= maxCloneSample {
				continue
			}
			end := min(seg.End, seg.Start+maxCloneSample-total)
			spans = append(spans, media.Span{Start: seg.Start, End: end})
			total += end - seg.Start
		}
		sample := filepath.Join(sc.Dir, fmt.Sprintf("clone-%02d.wav", i))
		if _, err := media.ExtractWAV(wav, sample, spans); err != nil {
			return made, cleanup, err
		}
		label := sp
		if label == "" {
			label = "Speaker 1"
		}
		id, err := s.Cloner.AddVoice(ctx, fmt.Sprintf("redub job %s %s", sc.Job.ID, label), []string{sample})
		if err != nil {
			return made, cleanup, err
		}
		made[sp] = id
	}
	return made, cleanup, nil
}
