package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/stack"
)

// TestOfflineJobCostAndMetrics runs the offline voiceover job through the
// stack and reads what it cost and the metrics its functions wrote: the
// items add up to the total, every step paid its Lambda time, no provider
// was paid, and the stack's collector (what `redub dev metrics` prints)
// holds the job's EMF lines.
func TestOfflineJobCostAndMetrics(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, _ := e.login(t, "meter@example.com")
	src := sample(t, t.TempDir(), 4)
	asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover"})
	id := e.jobOf(t, token, asset)
	j := e.waitJob(t, token, id, 3*time.Minute)
	require.Equal(t, "succeeded", j.Status, "job: %+v", j)

	var got struct {
		Cost struct {
			TotalUSD float64 `json:"total_usd"`
			Items    []struct {
				Service, What, Unit string
				Quantity, USD       float64
			}
			PricedAt   string `json:"priced_at"`
			Disclaimer string
		}
	}
	e.do(t, call{method: "GET", path: "/jobs/" + id, token: token}).JSON(t, &got)
	c := got.Cost
	require.NotEmpty(t, c.PricedAt)
	require.NotEmpty(t, c.Disclaimer)
	var sum float64
	seen := map[string]float64{}
	for _, it := range c.Items {
		sum += it.USD
		seen[it.Service+"/"+it.What] = it.Quantity
		require.NotEqual(t, "openai", it.Service, "offline engines pay no provider")
		require.NotEqual(t, "elevenlabs", it.Service, "offline engines pay no provider")
	}
	require.Positive(t, c.TotalUSD)
	require.InDelta(t, c.TotalUSD, sum, 1e-9, "the items add up to the total: %+v", c)
	t.Logf("cost of the offline voiceover job (4 s sample): $%.6f: %+v", c.TotalUSD, c.Items) // docs/benchmarks.md
	// The media steps run on x86_64 (the template's Architectures), and are priced so.
	require.Positive(t, seen["lambda/duration_x86_64"], "the steps' Lambda time")
	require.InDelta(t, float64(len(j.Steps)), seen["lambda/requests"], 0, "one invocation per step")
	require.InDelta(t, float64(len(j.Outputs)), seen["s3/put_requests"], 0, "one PUT per output")
	require.Positive(t, seen["s3/storage"])
	require.Positive(t, seen["sqs/requests"])

	var page struct {
		Items []struct {
			ID   string
			Cost struct {
				TotalUSD float64 `json:"total_usd"`
			}
		}
	}
	e.do(t, call{method: "GET", path: "/jobs", token: token}).JSON(t, &page)
	require.Len(t, page.Items, 1)
	require.InDelta(t, c.TotalUSD, page.Items[0].Cost.TotalUSD, 1e-9, "GET /jobs gives the same total")

	// An upload over the limit is refused, and counted by its reason.
	tooBig := e.do(t, call{method: "POST", path: "/uploads", token: token,
		body: map[string]any{"filename": "huge.mp4", "content_type": "video/mp4", "size_bytes": int64(1) << 50}})
	require.Equal(t, http.StatusRequestEntityTooLarge, tooBig.Status)

	// The job-end metrics come from the sweeper, which meters the outbox's
	// ends (once they have settled) on each of its rounds.
	go func() { _, _ = e.st.Fire(context.WithoutCancel(t.Context()), "SweeperFunction.EveryMinute") }() // instead of waiting for the schedule

	// What `redub dev metrics` reads: the control endpoint's last hour.
	var points []stack.MetricPoint
	require.Eventually(t, func() bool {
		resp, err := http.Get(e.st.ControlURL() + "/metrics") //nolint:noctx // a local test endpoint
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		points = nil
		if json.Unmarshal(b, &points) != nil {
			return false
		}
		job, rejected := false, false
		for _, p := range points {
			job = job || (p.Name == "JobsSucceeded" && p.Value == 1 && p.Dimensions["recipe"] == "voiceover" && p.Function == "SweeperFunction")
			rejected = rejected || (p.Name == "UploadsRejected" && p.Dimensions["reason"] == "too_large" && p.Function == "UploadsCreateFunction")
		}
		return job && rejected
	}, 90*time.Second, 250*time.Millisecond, "the job's JobsSucceeded metric and the refused upload's UploadsRejected")
	steps, waits := map[string]bool{}, map[string]bool{}
	for _, p := range points {
		require.Equal(t, "development", p.Dimensions["stage"])
		if p.Name == "StepDuration" {
			steps[p.Dimensions["step"]] = true
		}
		if p.Name == "QueueWait" {
			waits[p.Dimensions["step"]] = true
		}
		if p.Name == "JobCostUSD" {
			require.InDelta(t, c.TotalUSD, p.Value, 1e-9, "the job's cost metric is its cost")
		}
	}
	for _, s := range j.Steps {
		require.True(t, steps[s.Name], "a StepDuration of %s", s.Name)
		require.True(t, waits[s.Name], "a QueueWait of %s", s.Name)
	}
}
