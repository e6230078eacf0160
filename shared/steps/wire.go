package steps

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/config"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/lambdarun"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/metric"
	"github.com/redub/redub/shared/openai"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/provider"
	"github.com/redub/redub/shared/queue"
	"github.com/redub/redub/shared/speech"
	"github.com/redub/redub/shared/storage"
)

// Wiring is what a step function builds at cold start.
type Wiring struct {
	App    *lambdarun.App
	Deps   *Deps
	Queue  *queue.Sender
	Runner *pipeline.Runner
	Store  *storage.Store

	// One pacer per provider, shared by every client of it this
	// invocation builds: the limits and a 429's hold are the provider's.
	openaiPacer, elevenLabsPacer *provider.Pacer
}

// Wire builds the shared dependencies of a step function. A step's time
// budget is its invocation's deadline (the context's), less the runner's
// margin for recording the outcome.
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
	lease := app.Config.Pipeline.StepLease
	led := ledger.NewWithOptions(db, ledger.Options{Lease: lease, Blobs: store})
	jobs := job.NewStore(db)
	deps := &Deps{Objects: store, Media: runner, Ledger: led, Log: app.Log, Edits: jobs}
	prices, err := cost.Load(app.Config.Cost.PricesJSON)
	if err != nil {
		return nil, err
	}
	meter := &cost.Meter{Store: cost.NewStore(db), Prices: prices, Calls: led, Metrics: app.Metrics, Log: app.Log,
		MemoryMB: app.Config.Cost.MemoryMB, Architecture: app.Config.Cost.Architecture, RetentionDays: app.Config.Cost.OutputRetentionDays}
	pr := &pipeline.Runner{Jobs: jobs, Assets: asset.NewStore(db), Queue: q, Files: store, Log: app.Log, Lease: lease,
		StepsPerUser: app.Config.Pipeline.StepsPerUser,
		Classify:     []pipeline.Classifier{Classify}, RetryDelay: RetryDelay, Describe: Describe, Meter: meter,
		MemoryMB: app.Config.Cost.MemoryMB}
	conc := app.Config.Speech.Concurrency
	return &Wiring{App: app, Deps: deps, Queue: q, Runner: pr, Store: store,
		openaiPacer: provider.NewPacer(conc.OpenAI), elevenLabsPacer: provider.NewPacer(conc.ElevenLabs)}, nil
}

// StepHandler adapts a pipeline step to an SQS handler with partial batch failures.
func (w *Wiring) StepHandler(step pipeline.Step) lambdarun.SQSHandler {
	return lambdarun.SQS(w.App, func(ctx context.Context, msg events.SQSMessage) error {
		w.queueWait(ctx, step.Name(), msg)
		return w.Runner.Handle(ctx, step, msg.Body)
	})
}

// queueWait writes how long the message waited in its queue (since SQS
// received it: the SentTimestamp attribute, milliseconds since the epoch).
func (w *Wiring) queueWait(ctx context.Context, step string, msg events.SQSMessage) {
	sent, err := strconv.ParseInt(msg.Attributes["SentTimestamp"], 10, 64)
	if err != nil {
		return
	}
	wait := max(time.Since(time.UnixMilli(sent)), 0)
	if err := w.App.Metrics.Emit([]metric.Dim{{Name: "step", Value: step}},
		metric.Metric{Name: "QueueWait", Unit: metric.Milliseconds, Value: float64(wait.Milliseconds())}); err != nil {
		w.App.Log.WarnContext(ctx, "metrics: write failed", "error", err.Error())
	}
}

// OpenAI returns the OpenAI client, or nil without OPENAI_API_KEY.
func (w *Wiring) OpenAI() *openai.Client {
	if w.App.Config.OpenAIAPIKey == "" {
		return nil
	}
	c := openai.New(w.App.Config.OpenAIBaseURL, w.App.Config.OpenAIAPIKey, &http.Client{Timeout: 10 * time.Minute})
	c.Policy.Pacer = w.openaiPacer
	return c
}

// ElevenLabs returns the ElevenLabs client, or nil without ELEVENLABS_API_KEY.
func (w *Wiring) ElevenLabs() *elevenlabs.Client {
	if w.App.Config.ElevenLabsAPIKey == "" {
		return nil
	}
	c := elevenlabs.New(w.App.Config.ElevenLabsBaseURL, w.App.Config.ElevenLabsAPIKey, &http.Client{Timeout: 2 * time.Minute})
	c.Policy.Pacer = w.elevenLabsPacer
	return c
}

// Transcribe builds the transcribe step with the engine TRANSCRIBE_ENGINE
// resolved to (config: auto prefers ElevenLabs, then OpenAI, then local).
func (w *Wiring) Transcribe() (*Transcribe, error) {
	cfg := w.App.Config
	conc := cfg.Speech.Concurrency
	switch cfg.Speech.Engine {
	case config.EngineElevenLabs:
		return &Transcribe{Deps: w.Deps, Engine: Engine{Name: speech.EngineElevenLabs, Model: cfg.Speech.ScribeModel, Paid: true,
			Concurrency: conc.ElevenLabs, Transcriber: &speech.Scribe{Client: w.ElevenLabs(), Model: cfg.Speech.ScribeModel}}}, nil
	case config.EngineOpenAI:
		return &Transcribe{Deps: w.Deps, Engine: Engine{Name: speech.EngineOpenAI, Model: cfg.Models.Transcribe, Paid: true,
			PieceBytes: openai.MaxUploadBytes - 1<<20, Concurrency: conc.OpenAI,
			Transcriber: &speech.Whisper{Client: w.OpenAI(), Model: cfg.Models.Transcribe}}}, nil
	}
	local, err := speech.NewPocketsphinx("")
	if err != nil {
		return nil, err
	}
	return &Transcribe{Deps: w.Deps, Engine: Engine{Name: speech.EnginePocketsphinx, Concurrency: conc.Local, Transcriber: local}}, nil
}

// Synthesize builds the synthesize step with its engine: ElevenLabs when
// ELEVENLABS_API_KEY is set, espeak-ng otherwise.
func (w *Wiring) Synthesize() (*Synthesize, error) {
	var short Shortener
	if c := w.OpenAI(); c != nil && w.App.Config.Speech.SlotAware {
		short = &OpenAIShortener{Deps: w.Deps, Client: c, Model: w.App.Config.Models.Translate}
	}
	if c := w.ElevenLabs(); c != nil {
		voices := w.App.Config.Speech.Voices
		if len(voices) == 0 {
			voices = elevenlabs.PremadeVoices()
		}
		return &Synthesize{Deps: w.Deps, Engine: &ElevenLabsVoicer{Deps: w.Deps, Client: c, Model: w.App.Config.Models.Speech},
			Ext: "mp3", Voice: w.App.Config.Models.Voice, Voices: voices, EngineName: "elevenlabs", Cloner: c, Shortener: short,
			Concurrency: w.App.Config.Speech.Concurrency.ElevenLabs}, nil
	}
	local, err := speech.NewEspeak("")
	if err != nil {
		return nil, err
	}
	return &Synthesize{Deps: w.Deps, Engine: &LocalVoicer{Deps: w.Deps, Engine: local}, Ext: "wav", Voices: speech.EspeakVariants(),
		EngineName: "espeak-ng", Shortener: short, Concurrency: w.App.Config.Speech.Concurrency.Local}, nil
}
