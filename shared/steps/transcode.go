package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/pipeline"
)

// Transcode makes the MP4 rendition, the poster and the 16 kHz speech WAV.
// A video longer than PartLength runs in parts (pipeline.Parted): each part
// encodes the picture of its time range, and the merge joins them, adds the
// sound encoded once, and makes the poster and the WAV.
type Transcode struct {
	*Deps
	// PartLength is the media length of one part (TRANSCODE_PART_SECONDS);
	// 0: never in parts.
	PartLength time.Duration
}

// Name implements pipeline.Step.
func (t *Transcode) Name() string { return job.StepTranscode }

// Parts implements pipeline.Parted: ranges of PartLength over a video
// longer than one part (audio and shorter media run whole).
func (t *Transcode) Parts(sc *pipeline.Context) []job.Range {
	info, err := probeInfo(sc)
	if err != nil || info.Video == nil {
		return nil
	}
	return job.Ranges(info.Duration, t.PartLength)
}

// partKey is where part n's video waits for the merge.
func (t *Transcode) partKey(sc *pipeline.Context, n int) string {
	return sc.Key(t.Name(), "parts/"+media.PartName(n))
}

// WorkPart implements pipeline.Parted: the picture of rng, encoded as every
// part is, stored under jobs/<id>/transcode/parts/NNNN.mp4. The last part
// runs to the end of the media, whatever its probed length said.
func (t *Transcode) WorkPart(ctx context.Context, sc *pipeline.Context, part int, rng job.Range) error {
	info, err := probeInfo(sc)
	if err != nil {
		return err
	}
	src, err := t.download(ctx, sc.Source, sc.Dir, "source")
	if err != nil {
		return err
	}
	length := rng.End - rng.Start
	if part == sc.Parts {
		length = 0
	}
	out := filepath.Join(sc.Dir, "parts", media.PartName(part))
	if err := t.Media.TranscodePart(ctx, src, sc.SourceType, info, rng.Start, length, out,
		t.runOptions(ctx, sc, t.Name(), "transcoding", rng.End-rng.Start, 0, 100)); err != nil {
		return err
	}
	_, err = t.upload(ctx, out, t.partKey(sc, part), "part", media.PartName(part), "video/mp4")
	return err
}

// Merge implements pipeline.Parted: the parts joined into the renditions
// Work makes, stored where Work stores them; then the part files are
// removed. A merge whose parts are already gone (an earlier attempt stored
// the renditions and removed them, but its success was not recorded) takes
// the renditions it finds.
func (t *Transcode) Merge(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	info, err := probeInfo(sc)
	if err != nil {
		return pipeline.Result{}, err
	}
	sc.Progress(ctx, t.Name(), 1, "downloading")
	src, err := t.download(ctx, sc.Source, sc.Dir, "source")
	if err != nil {
		return pipeline.Result{}, err
	}
	var parts []string
	for n := 1; n <= sc.Parts; n++ {
		p, err := t.download(ctx, t.partKey(sc, n), sc.Dir, "part-"+media.PartName(n))
		if apperr.CodeOf(err) == apperr.NotFound {
			if res, ok := t.stored(ctx, sc, info); ok {
				return res, nil
			}
		}
		if err != nil {
			return pipeline.Result{}, err
		}
		parts = append(parts, p)
	}
	sc.Progress(ctx, t.Name(), 5, "merging")
	r, err := t.Media.JoinParts(ctx, parts, src, sc.SourceType, info, filepath.Join(sc.Dir, "out"),
		t.runOptions(ctx, sc, t.Name(), "merging", info.Duration, 5, 95))
	if err != nil {
		return pipeline.Result{}, err
	}
	res, err := t.store(ctx, sc, r, info)
	if err != nil {
		return pipeline.Result{}, err
	}
	if _, err := t.Objects.DeletePrefix(ctx, sc.Key(t.Name(), "parts/")); err != nil {
		return pipeline.Result{}, fmt.Errorf("remove the parts: %w", err)
	}
	res.Usage["parts"] = sc.Parts
	return res, nil
}

// Work implements pipeline.Step: the whole media in one invocation.
func (t *Transcode) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	info, err := probeInfo(sc)
	if err != nil {
		return pipeline.Result{}, err
	}
	sc.Progress(ctx, t.Name(), 1, "downloading")
	src, err := t.download(ctx, sc.Source, sc.Dir, "source")
	if err != nil {
		return pipeline.Result{}, err
	}
	sc.Progress(ctx, t.Name(), 5, "transcoding")
	r, err := t.Media.Transcode(ctx, src, sc.SourceType, info, sc.Dir, t.runOptions(ctx, sc, t.Name(), "transcoding", info.Duration, 5, 95))
	if err != nil {
		return pipeline.Result{}, err
	}
	return t.store(ctx, sc, r, info)
}

// rendition is one file of the step: its local path, its object name, its
// output kind, the download name and type.
type rendition struct{ path, file, kind, filename, ctype string }

func renditionFiles(sc *pipeline.Context, r media.Renditions) []rendition {
	name := baseName(sc.Filename)
	return []rendition{
		{r.MP4, "video.mp4", "video", name + ".mp4", "video/mp4"},
		{r.Poster, "poster.jpg", "poster", name + ".jpg", "image/jpeg"},
		{r.M4A, "audio.m4a", "audio", name + ".m4a", "audio/mp4"},
		{r.WAV, "speech.wav", "speech_wav", name + "-speech.wav", "audio/wav"},
	}
}

// store uploads the renditions and describes them as the step's outputs.
func (t *Transcode) store(ctx context.Context, sc *pipeline.Context, r media.Renditions, info media.Info) (pipeline.Result, error) {
	sc.Progress(ctx, t.Name(), 95, "uploading")
	var res pipeline.Result
	for _, f := range renditionFiles(sc, r) {
		if f.path == "" {
			continue
		}
		o, err := t.upload(ctx, f.path, sc.Key(t.Name(), f.file), f.kind, f.filename, f.ctype)
		if err != nil {
			return pipeline.Result{}, err
		}
		res.Outputs = append(res.Outputs, o)
	}
	res.Usage = map[string]any{"media_seconds": info.Duration.Seconds()}
	return res, nil
}

// stored is the result of a merge that already stored the renditions of a
// video (video, poster, and the WAV when it has sound); ok is false when
// one of them is missing.
func (t *Transcode) stored(ctx context.Context, sc *pipeline.Context, info media.Info) (pipeline.Result, bool) {
	want := media.Renditions{MP4: "x", Poster: "x"}
	if info.Audio != nil {
		want.WAV = "x"
	}
	res := pipeline.Result{Usage: map[string]any{"media_seconds": info.Duration.Seconds(), "parts": sc.Parts}}
	for _, f := range renditionFiles(sc, want) {
		if f.path == "" {
			continue
		}
		key := sc.Key(t.Name(), f.file)
		o, err := t.Objects.Head(ctx, key)
		if err != nil {
			return pipeline.Result{}, false
		}
		res.Outputs = append(res.Outputs, pipeline.Output{Kind: f.kind, Key: key, Filename: f.filename, ContentType: f.ctype, SizeBytes: o.Size})
	}
	return res, true
}

func probeInfo(sc *pipeline.Context) (media.Info, error) {
	var info media.Info
	if err := json.Unmarshal(sc.Probe, &info); err != nil {
		return media.Info{}, fmt.Errorf("read the asset's probe data: %w", err)
	}
	return info, nil
}

// SpeechKey is where transcode leaves the speech WAV for later steps.
func SpeechKey(sc *pipeline.Context) string { return sc.Key(job.StepTranscode, "speech.wav") }
