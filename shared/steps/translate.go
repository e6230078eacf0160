package steps

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/openai"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/speech"
)

// Translate translates the transcript, keeping segment ids and times. It
// needs an OpenAI key; without one the job fails with that reason.
type Translate struct {
	*Deps
	OpenAI *openai.Client // nil when OPENAI_API_KEY is not set
	Model  string
}

// Name implements pipeline.Step.
func (t *Translate) Name() string { return job.StepTranslate }

// Work implements pipeline.Step.
func (t *Translate) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	target := sc.Job.Params.TargetLanguage
	if t.OpenAI == nil {
		return pipeline.Result{}, pipeline.Fail("translation to %q needs OPENAI_API_KEY, which is not set (transcription and voices run offline; translation does not)", target)
	}
	b, err := t.getBytes(ctx, sc.Key(job.StepTranscribe, "transcript.json"))
	if err != nil {
		return pipeline.Result{}, err
	}
	var tr speech.Transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		return pipeline.Result{}, fmt.Errorf("decode transcript: %w", err)
	}
	sc.Progress(ctx, t.Name(), 10, "translating to "+target)
	segs := make([]openai.Segment, len(tr.Segments))
	for i, s := range tr.Segments {
		segs[i] = openai.Segment{ID: s.ID, Start: s.Start, End: s.End, Text: s.Text}
	}
	req := openai.TranslateRequest{Model: t.Model, Source: tr.Language, Target: target}
	call := ledger.Call{Provider: "openai", Operation: "translate", JobID: sc.Job.ID, Step: t.Name(),
		Request: map[string]any{"model": t.Model, "source": tr.Language, "target": target, "segments": segs}}
	o, err := t.Ledger.Do(ctx, call, func(ctx context.Context) (ledger.Outcome, error) {
		out, u, err := t.OpenAI.Translate(ctx, segs, req)
		if err != nil {
			return ledger.Outcome{}, err
		}
		res, _ := json.Marshal(out)
		us, _ := json.Marshal(u)
		return ledger.Outcome{Result: res, Usage: us}, nil
	})
	if err != nil {
		return pipeline.Result{}, err
	}
	var out []openai.Segment
	if err := json.Unmarshal(o.Result, &out); err != nil {
		return pipeline.Result{}, fmt.Errorf("decode stored translation: %w", err)
	}
	translated := speech.Transcript{Language: target, Duration: tr.Duration, Engine: "openai"}
	for _, s := range out {
		translated.Segments = append(translated.Segments, speech.Segment{ID: s.ID, Start: s.Start, End: s.End, Text: s.Text})
	}
	outs, err := t.storeTranscript(ctx, sc, t.Name(), translated, target)
	if err != nil {
		return pipeline.Result{}, err
	}
	var usage map[string]any
	_ = json.Unmarshal(o.Usage, &usage)
	if usage == nil {
		usage = map[string]any{}
	}
	usage["reused"] = o.Reused
	usage["segments"] = len(out)
	return pipeline.Result{Outputs: outs, Usage: usage}, nil
}
