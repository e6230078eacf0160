package stack_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkWarmInvoke compares a warm invoke of HealthFunction through the
// gateway (HTTP request -> payload 2.0 event -> RIE -> response mapping)
// with a direct invoke of the same function through its RIE pool. The
// difference at p50 is what the gateway adds (target: at most 1 ms).
//
//	make bench  (or: go run ./cmd/redub db run -- go test -run '^$' -bench WarmInvoke ./local/stack)
func BenchmarkWarmInvoke(b *testing.B) {
	st, _, _ := startStackB(b)
	event, err := os.ReadFile(filepath.Join(repoRootB(b), "functions/health/event.json"))
	require.NoError(b, err)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	b.Run("direct", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			if _, err := st.Invoke(context.Background(), "HealthFunction", event); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
	b.Run("gateway", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			res, err := client.Get(st.APIURL() + "/health")
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("status %d", res.StatusCode)
			}
			lat = append(lat, time.Since(start))
		}
		report(b, lat)
	})
}

func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
