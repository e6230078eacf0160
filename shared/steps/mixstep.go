package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/mix"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/script"
	"github.com/redub/redub/shared/speech"
)

// Mix places the new voice over the original and muxes the captions.
type Mix struct{ *Deps }

// Name implements pipeline.Step.
func (m *Mix) Name() string { return job.StepMix }

// Work implements pipeline.Step.
func (m *Mix) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	var info media.Info
	if err := json.Unmarshal(sc.Probe, &info); err != nil {
		return pipeline.Result{}, fmt.Errorf("read the asset's probe data: %w", err)
	}
	sc.Progress(ctx, m.Name(), 1, "downloading")
	src, err := m.download(ctx, sc.Source, sc.Dir, "source")
	if err != nil {
		return pipeline.Result{}, err
	}
	rev := max(sc.Job.Revision, 1)
	b, err := m.getBytes(ctx, script.Key(sc.Job.ID, rev, job.StepSynthesize, "clips.json"))
	if err != nil {
		return pipeline.Result{}, err
	}
	var stored []Clip
	if err := json.Unmarshal(b, &stored); err != nil {
		return pipeline.Result{}, fmt.Errorf("decode clips: %w", err)
	}
	clips := make([]mix.Clip, 0, len(stored))
	for i, c := range stored {
		if sc.Canceled(ctx) {
			return pipeline.Result{}, pipeline.ErrCanceled
		}
		path, err := m.download(ctx, c.Key, sc.Dir, fmt.Sprintf("clip-%04d%s", i, filepath.Ext(c.Key)))
		if err != nil {
			return pipeline.Result{}, err
		}
		clips = append(clips, mix.Clip{Start: c.Start, End: c.End, Path: path, Duration: c.Duration})
	}
	var (
		tr       speech.Transcript
		captions []pipeline.Output
	)
	if rev > 1 {
		// A re-render rewrites the captions from the edited script; they
		// replace the previous revision's with this step's success.
		sp, edits, err := m.script(ctx, sc)
		if err != nil {
			return pipeline.Result{}, err
		}
		tr = sp.Spoken(edits)
		keyOf := func(file string) string { return script.Key(sc.Job.ID, rev, m.Name(), file) }
		if captions, err = m.storeTranscriptAt(ctx, sc, keyOf, sp.Source(), ""); err != nil {
			return pipeline.Result{}, err
		}
		if sp.TargetLanguage != "" {
			keyOf := func(file string) string { return script.Key(sc.Job.ID, rev, m.Name(), sp.TargetLanguage+"-"+file) }
			translated, err := m.storeTranscriptAt(ctx, sc, keyOf, tr, sp.TargetLanguage)
			if err != nil {
				return pipeline.Result{}, err
			}
			captions = append(captions, translated...)
		}
	} else if tr, captions, err = m.spoken(ctx, sc); err != nil {
		return pipeline.Result{}, err
	}
	srt := filepath.Join(sc.Dir, "captions.srt")
	if err := writeSRT(srt, tr); err != nil {
		return pipeline.Result{}, err
	}
	hasVideo := info.Video != nil
	picture := ""
	if hasVideo && !media.CopiesIntoMP4(info.Video.Codec) {
		// VP8, Theora, MPEG-2...: copy the picture from transcode's H.264
		// rendition rather than encoding the video again.
		if picture, err = m.download(ctx, sc.Key(job.StepTranscode, media.MP4Name), sc.Dir, "rendition.mp4"); err != nil {
			return pipeline.Result{}, err
		}
	}
	out := filepath.Join(sc.Dir, "voiceover.m4a")
	if hasVideo {
		out = filepath.Join(sc.Dir, "voiceover.mp4")
	}
	sc.Progress(ctx, m.Name(), 10, "mixing")
	res, err := mix.Mix(ctx, m.Media, mix.Input{Original: src, OriginalType: sc.SourceType, Probed: &info, HasVideo: hasVideo, Picture: picture, Clips: clips, Captions: srt,
		Language: tr.Language, Out: out}, m.runOptions(ctx, sc, m.Name(), "mixing", info.Duration, 10, 95))
	if err != nil {
		return pipeline.Result{}, err
	}
	name := baseName(sc.Filename) + "-voiceover"
	ctype, file := "audio/mp4", "voiceover.m4a"
	if hasVideo {
		ctype, file = "video/mp4", "voiceover.mp4"
	}
	o, err := m.upload(ctx, res.Out, script.Key(sc.Job.ID, rev, m.Name(), file), "voiceover", name+filepath.Ext(file), ctype)
	if err != nil {
		return pipeline.Result{}, err
	}
	return pipeline.Result{Outputs: append([]pipeline.Output{o}, captions...), Usage: map[string]any{"clips": len(clips), "duration_s": res.Duration, "revision": rev}}, nil
}

func writeSRT(path string, tr speech.Transcript) error {
	segs := make([]captions.Segment, len(tr.Segments))
	for i, s := range tr.Segments {
		segs[i] = captions.Segment{ID: s.ID, Start: s.Start, End: s.End, Text: s.Text, Speaker: s.Speaker}
	}
	if err := os.WriteFile(path, captions.SRT(segs), 0o600); err != nil {
		return fmt.Errorf("write captions: %w", err)
	}
	return nil
}

// spoken is what revision 1's synthesize spoke. When it shortened lines, the
// translated captions are written again with them (replacing translate's
// with this step's success). A job synthesized before spoken.json existed
// has the transcript alone.
func (m *Mix) spoken(ctx context.Context, sc *pipeline.Context) (speech.Transcript, []pipeline.Output, error) {
	tr, err := m.loadTranscript(ctx, sc)
	if err != nil {
		return tr, nil, err
	}
	b, err := m.getBytes(ctx, script.Key(sc.Job.ID, 1, job.StepSynthesize, SpokenFile))
	if apperr.CodeOf(err) == apperr.NotFound {
		return tr, nil, nil
	}
	if err != nil {
		return tr, nil, err
	}
	var said speech.Transcript
	if err := json.Unmarshal(b, &said); err != nil {
		return tr, nil, fmt.Errorf("decode spoken transcript: %w", err)
	}
	changed := false
	texts := make(map[int]string, len(said.Segments))
	for _, s := range said.Segments {
		texts[s.ID] = s.Text
	}
	for i, s := range tr.Segments {
		if t, ok := texts[s.ID]; ok && t != s.Text {
			tr.Segments[i].Text, changed = t, true
		}
	}
	if !changed || sc.Job.Params.TargetLanguage == "" {
		return tr, nil, nil
	}
	lang := sc.Job.Params.TargetLanguage
	outs, err := m.storeTranscriptAt(ctx, sc, func(file string) string { return sc.Key(m.Name(), lang+"-"+file) }, tr, lang)
	return tr, outs, err
}
