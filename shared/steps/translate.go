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
	// Slots makes translation slot-aware: each segment goes with its
	// duration and a character budget from the target language's speaking
	// rate (speech.CharBudget), and the model is asked to stay within it.
	Slots bool
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
		if t.Slots {
			segs[i].MaxChars = speech.CharBudget(target, s.End-s.Start)
		}
	}
	// One ledger entry per paid request: each chunk the client would send in
	// one request is its own call, so a retry after a failure in chunk n
	// reuses chunks 1..n-1.
	req := openai.TranslateRequest{Model: t.Model, Source: tr.Language, Target: target, Keyterms: sc.Job.Params.Keyterms, Slots: t.Slots}
	var out []openai.Segment
	usage := map[string]any{}
	var promptTokens, completionTokens, paid, reused float64
	chunks := t.OpenAI.Chunks(segs)
	for i, chunk := range chunks {
		if sc.Canceled(ctx) {
			return pipeline.Result{}, pipeline.ErrCanceled
		}
		sc.Progress(ctx, t.Name(), 10+80*float64(i)/float64(len(chunks)), fmt.Sprintf("translating to %s (part %d of %d)", target, i+1, len(chunks)))
		call := ledger.Call{Provider: "openai", Operation: "translate", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: t.Name(),
			Request: map[string]any{"model": t.Model, "source": tr.Language, "target": target, "segments": chunk, "keyterms": req.Keyterms, "slots": t.Slots}}
		o, err := t.Ledger.Do(ctx, call, func(ctx context.Context) (ledger.Outcome, error) {
			got, u, err := t.OpenAI.Translate(ctx, chunk, req)
			if err != nil {
				return ledger.Outcome{}, err
			}
			res, _ := json.Marshal(got)
			us, _ := json.Marshal(u)
			return ledger.Outcome{Result: res, Usage: us}, nil
		})
		if err != nil {
			return pipeline.Result{}, err
		}
		var part []openai.Segment
		if err := json.Unmarshal(o.Result, &part); err != nil {
			return pipeline.Result{}, fmt.Errorf("decode stored translation: %w", err)
		}
		out = append(out, part...)
		var u struct {
			Prompt     float64 `json:"prompt_tokens"`
			Completion float64 `json:"completion_tokens"`
		}
		_ = json.Unmarshal(o.Usage, &u)
		if o.Reused {
			reused++
		} else {
			paid++
			promptTokens += u.Prompt
			completionTokens += u.Completion
		}
	}
	translated := speech.Transcript{Language: target, Duration: tr.Duration, Engine: "openai"}
	byID := make(map[int]speech.Segment, len(tr.Segments))
	for _, s := range tr.Segments {
		byID[s.ID] = s
	}
	for _, s := range out {
		src := byID[s.ID]
		translated.Segments = append(translated.Segments, speech.Segment{ID: s.ID, Start: s.Start, End: s.End, Text: s.Text, Speaker: src.Speaker, Source: src.Text})
	}
	outs, err := t.storeTranscript(ctx, sc, t.Name(), translated, target)
	if err != nil {
		return pipeline.Result{}, err
	}
	usage["prompt_tokens"], usage["completion_tokens"] = promptTokens, completionTokens
	usage["paid_calls"], usage["reused_calls"] = paid, reused
	usage["segments"] = len(out)
	return pipeline.Result{Outputs: outs, Usage: usage}, nil
}
