package steps

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/pipeline"
)

// Transcode makes the MP4 rendition, the poster and the 16 kHz speech WAV.
type Transcode struct{ *Deps }

// Name implements pipeline.Step.
func (t *Transcode) Name() string { return job.StepTranscode }

// Work implements pipeline.Step.
func (t *Transcode) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	var info media.Info
	if err := json.Unmarshal(sc.Probe, &info); err != nil {
		return pipeline.Result{}, fmt.Errorf("read the asset's probe data: %w", err)
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
	sc.Progress(ctx, t.Name(), 95, "uploading")
	name := baseName(sc.Filename)
	files := []struct{ path, file, kind, filename, ctype string }{
		{r.MP4, "video.mp4", "video", name + ".mp4", "video/mp4"},
		{r.Poster, "poster.jpg", "poster", name + ".jpg", "image/jpeg"},
		{r.M4A, "audio.m4a", "audio", name + ".m4a", "audio/mp4"},
		{r.WAV, "speech.wav", "speech_wav", name + "-speech.wav", "audio/wav"},
	}
	var res pipeline.Result
	for _, f := range files {
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

// SpeechKey is where transcode leaves the speech WAV for later steps.
func SpeechKey(sc *pipeline.Context) string { return sc.Key(job.StepTranscode, "speech.wav") }
