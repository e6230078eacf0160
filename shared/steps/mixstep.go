package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/mix"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/script"
	"github.com/redub/redub/shared/speech"
)

// Mix places the new voice over the original and muxes the captions. Media
// longer than PartLength runs in parts (pipeline.Parted): each part renders
// the dub track of its time range as PCM and measures its loudness; the
// merge joins the tracks, applies one gain, encodes the AAC once and muxes
// it with the video copied (mix.RenderPart, mix.MergeParts).
type Mix struct {
	*Deps
	// PartLength is the media length of one part (MIX_PART_SECONDS); 0:
	// never in parts.
	PartLength time.Duration
}

// Name implements pipeline.Step.
func (m *Mix) Name() string { return job.StepMix }

// Parts implements pipeline.Parted: ranges of PartLength over media longer
// than one part.
func (m *Mix) Parts(sc *pipeline.Context) []job.Range {
	info, err := probeInfo(sc)
	if err != nil {
		return nil
	}
	return job.Ranges(info.Duration, m.PartLength)
}

// partKey is where part n's track (ext ".wav") or loudness (".json")
// waits for the merge, under the revision's mix/parts/.
func (m *Mix) partKey(sc *pipeline.Context, n int, ext string) string {
	return script.Key(sc.Job.ID, max(sc.Job.Revision, 1), m.Name(), fmt.Sprintf("parts/%04d%s", n, ext))
}

// WorkPart implements pipeline.Parted: the dub track of rng, with only the
// clips that overlap it downloaded, stored with its loudness under
// mix/parts/. The last part runs to the end of the media.
func (m *Mix) WorkPart(ctx context.Context, sc *pipeline.Context, part int, rng job.Range) error {
	info, err := probeInfo(sc)
	if err != nil {
		return err
	}
	end := rng.End
	if part == sc.Parts {
		end = max(end, info.Duration)
	}
	from, to := rng.Start.Seconds(), end.Seconds()
	in, err := m.input(ctx, sc, info, func(c Clip) bool { return c.Start < to+1 && c.End > from-1 })
	if err != nil {
		return err
	}
	// The clips are placed by their slots and lengths; one longer than its
	// slot plays at most its slot, so a margin of a second finds them all.
	out := filepath.Join(sc.Dir, fmt.Sprintf("part-%04d.wav", part))
	l, err := mix.RenderPart(ctx, m.Media, in, rng.Start, end, out, m.runOptions(ctx, sc, m.Name(), "mixing", end-rng.Start, 10, 90))
	if err != nil {
		return err
	}
	if _, err := m.upload(ctx, out, m.partKey(sc, part, ".wav"), "part", filepath.Base(out), "audio/wav"); err != nil {
		return err
	}
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode loudness: %w", err)
	}
	return m.putBytes(ctx, m.partKey(sc, part, ".json"), "application/json", b)
}

// Merge implements pipeline.Parted: the parts' tracks joined into the
// voiceover Work makes, stored where Work stores it, with the captions;
// then the part files are removed.
func (m *Mix) Merge(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	info, err := probeInfo(sc)
	if err != nil {
		return pipeline.Result{}, err
	}
	in, captions, err := m.whole(ctx, sc, info)
	if err != nil {
		return pipeline.Result{}, err
	}
	var (
		parts []string
		loud  []mix.Loudness
	)
	for n := 1; n <= sc.Parts; n++ {
		p, err := m.download(ctx, m.partKey(sc, n, ".wav"), sc.Dir, fmt.Sprintf("part-%04d.wav", n))
		if apperr.CodeOf(err) == apperr.NotFound {
			// An earlier merge stored the voiceover and removed the parts,
			// but its success was not recorded: take the voiceover.
			if res, ok := m.stored(ctx, sc, in, captions); ok {
				return res, nil
			}
		}
		if err != nil {
			return pipeline.Result{}, err
		}
		b, err := m.getBytes(ctx, m.partKey(sc, n, ".json"))
		if err != nil {
			return pipeline.Result{}, err
		}
		var l mix.Loudness
		if err := json.Unmarshal(b, &l); err != nil {
			return pipeline.Result{}, fmt.Errorf("decode part %d loudness: %w", n, err)
		}
		parts, loud = append(parts, p), append(loud, l)
	}
	sc.Progress(ctx, m.Name(), 10, "merging")
	res, err := mix.MergeParts(ctx, m.Media, in, parts, loud, m.runOptions(ctx, sc, m.Name(), "merging", info.Duration, 10, 95))
	if err != nil {
		return pipeline.Result{}, err
	}
	out, err := m.store(ctx, sc, res, captions, len(in.Clips))
	if err != nil {
		return pipeline.Result{}, err
	}
	if _, err := m.Objects.DeletePrefix(ctx, script.Key(sc.Job.ID, max(sc.Job.Revision, 1), m.Name(), "parts/")); err != nil {
		return pipeline.Result{}, fmt.Errorf("remove the parts: %w", err)
	}
	out.Usage["parts"] = sc.Parts
	return out, nil
}

// Work implements pipeline.Step: the whole media in one invocation.
func (m *Mix) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	info, err := probeInfo(sc)
	if err != nil {
		return pipeline.Result{}, err
	}
	in, captions, err := m.whole(ctx, sc, info)
	if err != nil {
		return pipeline.Result{}, err
	}
	sc.Progress(ctx, m.Name(), 10, "mixing")
	res, err := mix.Mix(ctx, m.Media, in, m.runOptions(ctx, sc, m.Name(), "mixing", info.Duration, 10, 95))
	if err != nil {
		return pipeline.Result{}, err
	}
	return m.store(ctx, sc, res, captions, len(in.Clips))
}

// input downloads the source and the clips that keep says to keep, and
// describes them for package mix (no captions, no picture, no output).
func (m *Mix) input(ctx context.Context, sc *pipeline.Context, info media.Info, keep func(Clip) bool) (mix.Input, error) {
	sc.Progress(ctx, m.Name(), 1, "downloading")
	src, err := m.download(ctx, sc.Source, sc.Dir, "source")
	if err != nil {
		return mix.Input{}, err
	}
	rev := max(sc.Job.Revision, 1)
	b, err := m.getBytes(ctx, script.Key(sc.Job.ID, rev, job.StepSynthesize, "clips.json"))
	if err != nil {
		return mix.Input{}, err
	}
	var stored []Clip
	if err := json.Unmarshal(b, &stored); err != nil {
		return mix.Input{}, fmt.Errorf("decode clips: %w", err)
	}
	clips := make([]mix.Clip, 0, len(stored))
	for i, c := range stored {
		if !keep(c) {
			continue
		}
		if sc.Canceled(ctx) {
			return mix.Input{}, pipeline.ErrCanceled
		}
		path, err := m.download(ctx, c.Key, sc.Dir, fmt.Sprintf("clip-%04d%s", i, filepath.Ext(c.Key)))
		if err != nil {
			return mix.Input{}, err
		}
		clips = append(clips, mix.Clip{Start: c.Start, End: c.End, Path: path, Duration: c.Duration})
	}
	return mix.Input{Original: src, OriginalType: sc.SourceType, Probed: &info, HasVideo: info.Video != nil, Clips: clips}, nil
}

// whole is the input of the whole mix (or of the merge): every clip, the
// captions (stored as this step's outputs where they changed), the picture
// when the original's video cannot be copied, and the output file.
func (m *Mix) whole(ctx context.Context, sc *pipeline.Context, info media.Info) (mix.Input, []pipeline.Output, error) {
	in, err := m.input(ctx, sc, info, func(Clip) bool { return true })
	if err != nil {
		return mix.Input{}, nil, err
	}
	rev := max(sc.Job.Revision, 1)
	var (
		tr       speech.Transcript
		captions []pipeline.Output
	)
	if rev > 1 {
		// A re-render rewrites the captions from the edited script; they
		// replace the previous revision's with this step's success.
		sp, edits, err := m.script(ctx, sc)
		if err != nil {
			return mix.Input{}, nil, err
		}
		tr = sp.Spoken(edits)
		keyOf := func(file string) string { return script.Key(sc.Job.ID, rev, m.Name(), file) }
		if captions, err = m.storeTranscriptAt(ctx, sc, keyOf, sp.Source(), ""); err != nil {
			return mix.Input{}, nil, err
		}
		if sp.TargetLanguage != "" {
			keyOf := func(file string) string { return script.Key(sc.Job.ID, rev, m.Name(), sp.TargetLanguage+"-"+file) }
			translated, err := m.storeTranscriptAt(ctx, sc, keyOf, tr, sp.TargetLanguage)
			if err != nil {
				return mix.Input{}, nil, err
			}
			captions = append(captions, translated...)
		}
	} else if tr, captions, err = m.spoken(ctx, sc); err != nil {
		return mix.Input{}, nil, err
	}
	srt := filepath.Join(sc.Dir, "captions.srt")
	if err := writeSRT(srt, tr); err != nil {
		return mix.Input{}, nil, err
	}
	in.Captions, in.Language = srt, tr.Language
	if in.HasVideo && !media.CopiesIntoMP4(info.Video.Codec) {
		// VP8, Theora, MPEG-2...: copy the picture from transcode's H.264
		// rendition rather than encoding the video again.
		if in.Picture, err = m.download(ctx, sc.Key(job.StepTranscode, media.MP4Name), sc.Dir, "rendition.mp4"); err != nil {
			return mix.Input{}, nil, err
		}
	}
	in.Out = filepath.Join(sc.Dir, "voiceover.m4a")
	if in.HasVideo {
		in.Out = filepath.Join(sc.Dir, "voiceover.mp4")
	}
	return in, captions, nil
}

// stored is the result of a merge that already stored the voiceover; ok
// is false when it is missing.
func (m *Mix) stored(ctx context.Context, sc *pipeline.Context, in mix.Input, captions []pipeline.Output) (pipeline.Result, bool) {
	rev := max(sc.Job.Revision, 1)
	ctype, file := "audio/mp4", "voiceover.m4a"
	if in.HasVideo {
		ctype, file = "video/mp4", "voiceover.mp4"
	}
	key := script.Key(sc.Job.ID, rev, m.Name(), file)
	o, err := m.Objects.Head(ctx, key)
	if err != nil {
		return pipeline.Result{}, false
	}
	v := pipeline.Output{Kind: "voiceover", Key: key, Filename: baseName(sc.Filename) + "-voiceover" + filepath.Ext(file),
		ContentType: ctype, SizeBytes: o.Size}
	return pipeline.Result{Outputs: append([]pipeline.Output{v}, captions...),
		Usage: map[string]any{"clips": len(in.Clips), "revision": rev, "parts": sc.Parts}}, true
}

// store uploads the voiceover and describes it with the captions as the
// step's outputs.
func (m *Mix) store(ctx context.Context, sc *pipeline.Context, res mix.Result, captions []pipeline.Output, clips int) (pipeline.Result, error) {
	rev := max(sc.Job.Revision, 1)
	name := baseName(sc.Filename) + "-voiceover"
	ctype, file := "audio/mp4", "voiceover.m4a"
	if filepath.Ext(res.Out) == ".mp4" {
		ctype, file = "video/mp4", "voiceover.mp4"
	}
	o, err := m.upload(ctx, res.Out, script.Key(sc.Job.ID, rev, m.Name(), file), "voiceover", name+filepath.Ext(file), ctype)
	if err != nil {
		return pipeline.Result{}, err
	}
	return pipeline.Result{Outputs: append([]pipeline.Output{o}, captions...), Usage: map[string]any{"clips": clips, "duration_s": res.Duration, "revision": rev}}, nil
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
