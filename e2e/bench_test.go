package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkPipeline runs the voiceover recipe offline through the local
// stack on a 60 s 1280x720 talking video and reports:
//
//   - overhead-ms-p50: per step, the job's wall time minus the time the
//     steps spent working (FFmpeg, engines, storage), divided by the steps:
//     SQS hops, Lambda invokes, claims and commits (target: under 150 ms);
//
//   - <step>-peak-MiB: the peak resident memory of each step function's
//     process with its children (ffmpeg, pocketsphinx, espeak-ng).
//
//     go run ./cmd/redub db run -- go test -run '^$' -bench Pipeline -benchtime 3x ./e2e
func BenchmarkPipeline(b *testing.B) {
	e := start(b, nil)
	token, _ := e.login(b, "bench@example.com")
	dir := b.TempDir()
	src := sample(b, dir, 60)

	stop := make(chan struct{})
	peaks := map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Go(func() { samplePeaks(e.st.StateDir(), stop, peaks, &mu) })

	var overheads, waits, tails, handoffs []float64
	for b.Loop() {
		asset := e.uploadFile(b, token, src, "video/mp4", map[string]any{"recipe": "voiceover"})
		id := e.jobOf(b, token, asset)
		j := e.waitJob(b, token, id, 10*time.Minute)
		require.Equal(b, "succeeded", j.Status)
		var wall float64
		require.NoError(b, e.db.QueryRow(context.Background(), `SELECT extract(epoch FROM finished_at - created_at) * 1000 FROM jobs WHERE id = $1`, id).Scan(&wall))
		var work float64
		var steps int
		require.NoError(b, e.db.QueryRow(context.Background(), `SELECT sum((usage->>'duration_ms')::float), count(*) FROM job_steps WHERE job_id = $1`, id).Scan(&work, &steps))
		overheads = append(overheads, (wall-work)/float64(steps))
		// Where the overhead goes, per step: from send to claim (the queue hop
		// and the claim), from claim to recorded success less the step's own
		// work (asset load, scratch, heartbeat, the success transaction), and
		// from one step's end to the next one's send being recorded.
		var wait, tail, handoff float64
		require.NoError(b, e.db.QueryRow(context.Background(), `
			SELECT avg(extract(epoch FROM started_at - enqueued_at) * 1000),
			       avg(extract(epoch FROM finished_at - started_at) * 1000 - (usage->>'duration_ms')::float),
			       avg(extract(epoch FROM next_enqueued - finished_at) * 1000)
			FROM (SELECT *, lead(enqueued_at) OVER (ORDER BY position) AS next_enqueued FROM job_steps WHERE job_id = $1) s`, id).Scan(&wait, &tail, &handoff))
		waits, tails, handoffs = append(waits, wait), append(tails, tail), append(handoffs, handoff)
	}
	close(stop)
	wg.Wait()
	for name, xs := range map[string][]float64{"overhead-ms-p50": overheads, "send-to-claim-ms-p50": waits,
		"claim-to-done-less-work-ms-p50": tails, "done-to-next-sent-ms-p50": handoffs} {
		sort.Float64s(xs)
		b.ReportMetric(xs[len(xs)/2], name)
	}
	mu.Lock()
	for fn, kb := range peaks {
		b.ReportMetric(float64(kb)/1024, fn+"-peak-MiB")
	}
	mu.Unlock()
}

// samplePeaks records the largest resident set of each function's process
// tree (bootstrap under <state>/build/<fn> plus its descendants).
func samplePeaks(stateDir string, stop <-chan struct{}, peaks map[string]int64, mu *sync.Mutex) {
	build := filepath.Join(stateDir, "build") + "/"
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		parent := map[int]int{}
		rss := map[int]int64{}
		roots := map[int]string{}
		entries, _ := os.ReadDir("/proc")
		for _, en := range entries {
			pid, err := strconv.Atoi(en.Name())
			if err != nil {
				continue
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && f[0] == "PPid:" {
					parent[pid], _ = strconv.Atoi(f[1])
				}
				if len(f) >= 2 && f[0] == "VmRSS:" {
					rss[pid], _ = strconv.ParseInt(f[1], 10, 64)
				}
			}
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.HasPrefix(exe, build) {
				roots[pid] = strings.TrimPrefix(exe, build)
			}
		}
		totals := map[string]int64{}
		for pid, kb := range rss {
			for p, hops := pid, 0; p > 1 && hops < 10; p, hops = parent[p], hops+1 {
				if fn, ok := roots[p]; ok {
					totals[fn] += kb
					break
				}
			}
		}
		mu.Lock()
		for fn, kb := range totals {
			if kb > peaks[fn] {
				peaks[fn] = kb
			}
		}
		mu.Unlock()
	}
}
