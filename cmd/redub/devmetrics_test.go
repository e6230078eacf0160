package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/stack"
)

func TestPrintMetricsSumsEachMetricAndDimensions(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 15, 4, 12, 0, time.UTC)
	pt := func(name string, v float64, dims map[string]string) stack.MetricPoint {
		return stack.MetricPoint{At: at, Function: "MixFunction", Name: name, Unit: "Milliseconds", Value: v, Dimensions: dims}
	}
	var out bytes.Buffer
	printMetrics(&out, []stack.MetricPoint{
		pt("StepDuration", 100, map[string]string{"stage": "development", "step": "mix"}),
		pt("StepDuration", 300, map[string]string{"stage": "development", "step": "mix"}),
		pt("StepDuration", 50, map[string]string{"stage": "development", "step": "transcode"}),
	})
	requireInOrder(t, out.String(), [][]string{
		{"METRIC", "DIMENSIONS", "COUNT", "SUM", "MAX"},
		{"StepDuration", "stage=development step=mix", " 2 ", " 400 ", " 300 ", "15:04:12"},
		{"StepDuration", "stage=development step=transcode", " 1 ", " 50 "},
	})
	out.Reset()
	printMetrics(&out, nil)
	require.Contains(t, out.String(), "no metrics in the last hour")
}
