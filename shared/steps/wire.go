package steps

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/openai"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/speech"
	"github.com/redub/redub/shared/storage"
)

// budgetMargin is kept free below the function's timeout for recording the
// outcome after the work stops.
const budgetMargin = 20 * time.Second

// Wiring is what a step function builds at cold start.
type Wiring struct {
	App    *lambdarun.App
	Deps   *Deps
	Queue  *queue.Sender
	Runner *pipeline.Runner
	Store  *storage.Store
}

// Wire builds the shared dependencies of a step function. timeout is the
// function's timeout; the step's budget is a little less.
func Wire(ctx context.Context, app *lambdarun.App) (*Wiring, error) {
	db, err := app.DB()
	if err != nil {
		return nil, err
	}
	awsCfg, err := app.AWS(ctx)
	if err != nil {
		return nil, err
	}
	runner, err := media.NewRunner(app.Getenv)
	if err != nil {
		return nil, err
	}
	store := storage.New(storage.NewClient(awsCfg, app.Getenv), app.Config.StorageBucket, storage.Options{})
	q := queue.NewSender(queue.NewClient(awsCfg, app.Getenv), app.Config.Queues.All())
	budget := time.Duration(0)
	if d := functionTimeout(app); d > budgetMargin {
		budget = d - budgetMargin
	}
	lease := leaseFrom(app)
	deps := &Deps{DB: db, Objects: store, Media: runner, Ledger: ledger.NewWithOptions(db, ledger.Options{Lease: lease}),
		Jobs: job.NewStore(db), Log: app.Log, Budget: budget}
	pr := &pipeline.Runner{DB: db, Queue: q, Log: app.Log, Timeout: budget, Lease: lease, Classify: []pipeline.Classifier{Classify}}
	return &Wiring{App: app, Deps: deps, Queue: q, Runner: pr, Store: store}, nil
}

// leaseFrom reads STEP_LEASE_SECONDS: how long a running step or a paid call
// in flight is held for a worker that stopped renewing it (default 30 s). It
// must stay below the queues' visibility timeouts.
func leaseFrom(app *lambdarun.App) time.Duration {
	if n, err := strconv.Atoi(app.Getenv("STEP_LEASE_SECONDS")); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	return pipeline.DefaultLease
}

// functionTimeout is the function's timeout as Lambda (or the local stack)
// states it in AWS_LAMBDA_FUNCTION_TIMEOUT; 0 when unknown.
func functionTimeout(app *lambdarun.App) time.Duration {
	secs, err := strconv.Atoi(app.Getenv("AWS_LAMBDA_FUNCTION_TIMEOUT"))
	if err != nil || secs < 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// StepHandler adapts a pipeline step to an SQS handler with partial batch failures.
func (w *Wiring) StepHandler(step pipeline.Step) lambdarun.SQSHandler {
	return lambdarun.SQS(w.App, func(ctx context.Context, msg events.SQSMessage) error {
		return w.Runner.Handle(ctx, step, msg.Body)
	})
}

// IngestHandler is the ingest function's SQS handler.
func (w *Wiring) IngestHandler() lambdarun.SQSHandler {
	in := &Ingest{Deps: w.Deps, Assets: asset.NewStore(w.Deps.DB), Queue: w.Queue}
	return lambdarun.SQS(w.App, func(ctx context.Context, msg events.SQSMessage) error {
		return in.HandleMessage(ctx, msg.Body)
	})
}

// OpenAI returns the OpenAI client, or nil without OPENAI_API_KEY.
func (w *Wiring) OpenAI() *openai.Client {
	if w.App.Config.OpenAIAPIKey == "" {
		return nil
	}
	return openai.New(w.App.Config.OpenAIBaseURL, w.App.Config.OpenAIAPIKey, &http.Client{Timeout: 10 * time.Minute})
}

// ElevenLabs returns the ElevenLabs client, or nil without ELEVENLABS_API_KEY.
func (w *Wiring) ElevenLabs() *elevenlabs.Client {
	if w.App.Config.ElevenLabsAPIKey == "" {
		return nil
	}
	return elevenlabs.New(w.App.Config.ElevenLabsBaseURL, w.App.Config.ElevenLabsAPIKey, &http.Client{Timeout: 2 * time.Minute})
}

// Transcribe builds the transcribe step.
func (w *Wiring) Transcribe() (*Transcribe, error) {
	t := &Transcribe{Deps: w.Deps, OpenAI: w.OpenAI(), Model: w.App.Config.Models.Transcribe}
	if t.OpenAI == nil {
		local, err := speech.NewPocketsphinx("")
		if err != nil {
			return nil, err
		}
		t.Local = local
	}
	return t, nil
}

// Synthesize builds the synthesize step.
func (w *Wiring) Synthesize() (*Synthesize, error) {
	s := &Synthesize{Deps: w.Deps, ElevenLabs: w.ElevenLabs(), Model: w.App.Config.Models.Speech, Voice: w.App.Config.Models.Voice}
	if s.ElevenLabs == nil {
		local, err := speech.NewEspeak("")
		if err != nil {
			return nil, err
		}
		s.Local = local
		s.Voice = ""
	}
	return s, nil
}
