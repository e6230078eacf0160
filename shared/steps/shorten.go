package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/openai"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/speech"
)

// Shortener rewrites a line shorter in its own language, within maxChars,
// reporting whether the rewrite was paid for.
type Shortener interface {
	Shorten(ctx context.Context, sc *pipeline.Context, seg speech.Segment, maxChars int, language string) (string, bool, error)
}

// OpenAIShortener shortens lines with OpenAI, each line one ledger call.
type OpenAIShortener struct {
	*Deps
	Client *openai.Client
	Model  string
}

// Shorten implements Shortener.
func (o *OpenAIShortener) Shorten(ctx context.Context, sc *pipeline.Context, seg speech.Segment, maxChars int, language string) (string, bool, error) {
	in := []openai.Segment{{ID: seg.ID, Start: seg.Start, End: seg.End, Text: seg.Text, MaxChars: maxChars}}
	req := openai.TranslateRequest{Model: o.Model, Target: language, Keyterms: sc.Job.Params.Keyterms, Shorten: true}
	call := ledger.Call{Provider: "openai", Operation: "shorten", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: job.StepSynthesize,
		Request: map[string]any{"model": o.Model, "target": language, "segment": in[0], "keyterms": req.Keyterms}}
	out, err := o.Ledger.Do(ctx, call, func(ctx context.Context) (ledger.Outcome, error) {
		got, u, err := o.Client.Translate(ctx, in, req)
		if err != nil {
			return ledger.Outcome{}, err
		}
		res, _ := json.Marshal(got)
		us, _ := json.Marshal(u)
		return ledger.Outcome{Result: res, Usage: us}, nil
	})
	if err != nil {
		return "", false, err
	}
	var got []openai.Segment
	if err := json.Unmarshal(out.Result, &got); err != nil || len(got) != 1 {
		return "", false, fmt.Errorf("decode stored shortening: %w", err)
	}
	return got[0].Text, !out.Reused, nil
}

// clipSeconds is the length of the clip stored at key, in seconds.
func (s *Synthesize) clipSeconds(ctx context.Context, sc *pipeline.Context, key string) (float64, error) {
	// A name of its own: segments are measured in parallel.
	path, err := s.download(ctx, key, sc.Dir, "measure-"+filepath.Base(key))
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	d, err := s.Media.Duration(ctx, path)
	if err != nil {
		return 0, fmt.Errorf("measure clip %s: %w", key, err)
	}
	return d.Seconds(), nil
}
