package cost_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/asset"
	"github.com/redub/redub/shared/cost"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/metric"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/postgres"
	"github.com/redub/redub/shared/postgres/pgtest"
	"github.com/redub/redub/shared/queue"
)

type discard struct{}

func (discard) Send(context.Context, queue.Message) error { return nil }

// fixed is a price table of round numbers, so each item's price is easy to
// check against its quantity.
func fixed() cost.Prices {
	p := cost.Default()
	p.AsOf = "2000-01-01"
	for k, v := range p.Prices {
		v.USD = 0
		p.Prices[k] = v
	}
	set := func(k string, usd float64) { v := p.Prices[k]; v.USD = usd; p.Prices[k] = v }
	set(cost.LambdaARM64, 0.5)
	set(cost.LambdaRequests, 0.001)
	set(cost.S3Put, 0.01)
	set(cost.S3Get, 0.002)
	set(cost.S3Storage, 100)
	set(cost.SQSRequests, 0.0001)
	set(cost.OpenAIInput, 0.00002)
	set(cost.OpenAIOutput, 0.00004)
	return p
}

type bundle struct {
	db      *postgres.DB
	job     job.Job
	runner  *pipeline.Runner
	store   *cost.Store
	ledger  *ledger.Ledger
	metrics *bytes.Buffer
}

func setup(t *testing.T) bundle {
	t.Helper()
	db := pgtest.New(t)
	ctx := context.Background()
	user, assetID := uuid.New(), uuid.New()
	_, err := db.Exec(ctx, `INSERT INTO users (id, email) VALUES ($1, $2)`, user, user.String()+"@example.com")
	require.NoError(t, err)
	_, err = db.Exec(ctx, `INSERT INTO assets (id, user_id, status, filename, content_type, size_bytes, object_key)
		VALUES ($1, $2, 'ready', 'a.mp4', 'video/mp4', 10, 'uploads/x/source.mp4')`, assetID, user)
	require.NoError(t, err)
	jobs := job.NewStore(db)
	j, _, err := jobs.Create(ctx, job.NewJob{UserID: user, AssetID: assetID, Recipe: job.Captions})
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var buf bytes.Buffer
	store, led := cost.NewStore(db), ledger.New(db)
	meter := &cost.Meter{Store: store, Prices: fixed(), Calls: led, Metrics: metric.New(&buf, "development"), Log: log,
		MemoryMB: 2048, Architecture: "arm64", RetentionDays: 60}
	return bundle{db: db, job: j, store: store, ledger: led, metrics: &buf,
		runner: &pipeline.Runner{Jobs: jobs, Assets: asset.NewStore(db), Queue: discard{}, Log: log, Meter: meter}}
}

func (b bundle) handle(t *testing.T, s pipeline.Step) {
	t.Helper()
	body, _ := json.Marshal(queue.Message{V: 1, JobID: b.job.ID, Step: s.Name(), Attempt: 1})
	require.NoError(t, b.runner.Handle(context.Background(), s, string(body)))
}

type step struct {
	name string
	work func(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error)
}

func (s step) Name() string { return s.name }
func (s step) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	return s.work(ctx, sc)
}

func quantities(us []cost.Usage) map[string]float64 {
	q := map[string]float64{}
	for _, u := range us {
		q[u.Service+"/"+u.What] += u.Quantity
	}
	return q
}

func TestEachItemIsItsRecordedQuantityAtItsPrice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const size = 3 << 29 // 1.5 GiB across two outputs
	b.handle(t, step{name: job.StepTranscode, work: func(_ context.Context, sc *pipeline.Context) (pipeline.Result, error) {
		return pipeline.Result{Outputs: []pipeline.Output{
			{Kind: "video", Key: sc.Key("transcode", "v.mp4"), Filename: "v.mp4", ContentType: "video/mp4", SizeBytes: size / 3 * 2},
			{Kind: "poster", Key: sc.Key("transcode", "p.jpg"), Filename: "p.jpg", ContentType: "image/jpeg", SizeBytes: size / 3},
		}}, nil
	}})
	transcribe := step{name: job.StepTranscribe, work: func(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
		call := ledger.Call{Provider: "openai", Operation: "translate", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: job.StepTranscribe,
			Request: map[string]any{"text": "hello"}}
		_, err := b.ledger.Do(ctx, call, func(context.Context) (ledger.Outcome, error) {
			return ledger.Outcome{Result: json.RawMessage(`{}`), Usage: json.RawMessage(`{"prompt_tokens":1000,"completion_tokens":250}`)}, nil
		})
		return pipeline.Result{}, err
	}}
	b.handle(t, transcribe)

	us, err := b.store.Usages(ctx, b.job.ID)
	require.NoError(t, err)
	q := quantities(us)
	require.InDelta(t, 2.0, q[cost.LambdaRequests], 0, "one request per invocation")
	require.InDelta(t, 2.0, q[cost.S3Put], 0, "one PUT per output")
	require.InDelta(t, 2.0, q[cost.S3Get], 0, "one GET of its input per invocation")
	require.InDelta(t, 1.5*60/30, q[cost.S3Storage], 1e-9, "1.5 GiB kept 60 days")
	require.InDelta(t, 6.0, q[cost.SQSRequests], 0, "receive, delete and the next send per successful step")
	require.InDelta(t, 1000.0, q[cost.OpenAIInput], 0, "the ledger's usage")
	require.InDelta(t, 250.0, q[cost.OpenAIOutput], 0)
	require.Positive(t, q[cost.LambdaARM64])

	p := fixed()
	bd := cost.Estimate(p, us)
	require.Equal(t, "2000-01-01", bd.PricedAt)
	require.NotEmpty(t, bd.Disclaimer)
	var sum float64
	for _, it := range bd.Items {
		k := it.Service + "/" + it.What
		require.InDelta(t, q[k], it.Quantity, 1e-9, k)
		require.Equal(t, p.Prices[k].Unit, it.Unit, k)
		require.InDelta(t, q[k]*p.Prices[k].USD, it.USD, 1e-9, k)
		sum += it.USD
	}
	require.Len(t, bd.Items, 8)
	require.InDelta(t, sum, bd.TotalUSD, 1e-12, "the items add up to the total")
	require.InDelta(t, 2*0.001+2*0.01+2*0.002+3*100+6*0.0001+1000*0.00002+250*0.00004+q[cost.LambdaARM64]*0.5, bd.TotalUSD, 1e-8)

	// A retry that reuses the paid call pays for its Lambda time, not the call.
	before := q[cost.OpenAIInput]
	_, err = b.db.Exec(ctx, `UPDATE job_steps SET status = 'queued', attempts = 0 WHERE job_id = $1 AND step = 'transcribe'`, b.job.ID)
	require.NoError(t, err)
	_, err = b.db.Exec(ctx, `UPDATE jobs SET status = 'running', finished_at = NULL WHERE id = $1`, b.job.ID)
	require.NoError(t, err)
	b.handle(t, transcribe)
	us, err = b.store.Usages(ctx, b.job.ID)
	require.NoError(t, err)
	require.InDelta(t, before, quantities(us)[cost.OpenAIInput], 0, "a reused call is not paid twice")
	require.InDelta(t, 3.0, quantities(us)[cost.LambdaRequests], 0)
}

func TestTheJobsMetricsAreValidEMF(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ok := func(context.Context, *pipeline.Context) (pipeline.Result, error) { return pipeline.Result{}, nil }
	b.handle(t, step{name: job.StepTranscode, work: ok})
	b.handle(t, step{name: job.StepTranscribe, work: ok})
	ends := &cost.Ends{Events: job.NewStore(b.db), Usages: b.store, Prices: fixed(), Metrics: metric.New(b.metrics, "development")}
	n, err := ends.Write(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)

	var names []string
	seen := map[string]metric.Line{}
	sc := bufio.NewScanner(b.metrics)
	for sc.Scan() {
		l, err := metric.Parse(sc.Bytes())
		require.NoError(t, err, sc.Text())
		require.Equal(t, metric.Namespace, l.Namespace)
		require.Equal(t, "development", l.Dimensions["stage"])
		for n := range l.Metrics {
			names = append(names, n)
			seen[n] = l
		}
	}
	require.Contains(t, names, "StepDuration")
	require.Contains(t, names, "PartsPerStep")
	require.Equal(t, "captions", seen["JobsSucceeded"].Dimensions["recipe"])
	require.InDelta(t, 1.0, seen["JobsSucceeded"].Metrics["JobsSucceeded"], 0)
	require.InDelta(t, 0.0, seen["JobsFailed"].Metrics["JobsFailed"], 0)
	require.Equal(t, "Seconds", seen["JobDuration"].Units["JobDuration"])
	us, err := b.store.Usages(context.Background(), b.job.ID)
	require.NoError(t, err)
	require.InDelta(t, cost.Estimate(fixed(), us).TotalUSD, seen["JobCostUSD"].Metrics["JobCostUSD"], 1e-9)
	require.False(t, math.IsNaN(seen["StepDuration"].Metrics["StepDuration"]))
}

func TestCheckRefusesWhatTheSpecificationForbids(t *testing.T) {
	t.Parallel()
	for name, line := range map[string]string{
		"no _aws":          `{"x":1}`,
		"no timestamp":     `{"_aws":{"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"x"}]}]},"x":1}`,
		"flat dimensions":  `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":["a"],"Metrics":[{"Name":"x"}]}]},"a":"v","x":1}`,
		"bad unit":         `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"x","Unit":"Dollars"}]}]},"x":1}`,
		"missing metric":   `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"x"}]}]}}`,
		"missing dim":      `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["a"]],"Metrics":[{"Name":"x"}]}]},"x":1}`,
		"no namespace":     `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"x"}]}]},"x":1}`,
		"string timestamp": `{"_aws":{"Timestamp":"1","CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"x"}]}]},"x":1}`,
	} {
		_, err := metric.Parse([]byte(line))
		require.Error(t, err, name)
	}
}

func TestLoadOverridesOnePriceAndRefusesUnknownOnes(t *testing.T) {
	t.Parallel()
	p, err := cost.Load(`{"as_of":"2027-01-01","prices":{"openai/translate_output":{"usd":0.000001}}}`)
	require.NoError(t, err)
	require.Equal(t, "2027-01-01", p.AsOf)
	require.InDelta(t, 0.000001, p.Prices[cost.OpenAIOutput].USD, 0)
	require.Equal(t, "tokens", p.Prices[cost.OpenAIOutput].Unit)
	require.InDelta(t, cost.Default().Prices[cost.S3Put].USD, p.Prices[cost.S3Put].USD, 0)
	for _, bad := range []string{`{`, `{"prices":{"gcp/compute":{"usd":1}}}`, `{"prices":{"s3/put_requests":{"usd":-1}}}`,
		`{"prices":{"s3/put_requests":{"usd":1,"unit":"GB"}}}`} {
		_, err := cost.Load(bad)
		require.Error(t, err, bad)
	}
	for k, v := range cost.Default().Prices {
		require.NotEmpty(t, v.Source, k)
	}
}

func TestAPartsUsageNamesItsPart(t *testing.T) {
	t.Parallel()
	m := &cost.Meter{MemoryMB: 3008, Architecture: "x86_64"}
	inv := pipeline.Invocation{Job: job.Job{ID: uuid.New()}, Step: "transcode", Attempt: 2, Part: 3, Elapsed: 2 * time.Second}
	us := m.Usage(inv, nil)
	require.NotEmpty(t, us)
	for _, u := range us {
		require.NotNil(t, u.Part, "%s %s", u.Service, u.What)
		require.Equal(t, 3, *u.Part)
		require.Equal(t, 2, u.Attempt)
	}
	split := m.Usage(pipeline.Invocation{Job: job.Job{ID: uuid.New()}, Step: "transcode", Attempt: 1, Split: 4, Elapsed: time.Second}, nil)
	for _, u := range split {
		require.Nil(t, u.Part)
		if u.Service == "sqs" {
			require.InDelta(t, 6, u.Quantity, 0, "receive, delete and the four parts sent")
		}
	}
}
