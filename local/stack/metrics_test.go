package stack

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMetricsKeepTheLastHourOfValidEMFLines(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	m := NewMetrics()
	m.now = func() time.Time { return now }
	var out bytes.Buffer
	lw := NewLineWriter(&out)
	lw.observe = m.Observe

	line := func(at time.Time, dim, value, name string) string {
		return fmt.Sprintf(`MixFunction | {"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"Redub","Dimensions":[["stage","%s"]],`+
			`"Metrics":[{"Name":"%s","Unit":"Count"}]}]},"stage":"development","%s":"%s","%s":1}`+"\n", at.UnixMilli(), dim, name, dim, value, name)
	}
	for _, l := range []string{line(now.Add(-2*time.Hour), "step", "mix", "StepDuration"), line(now.Add(-time.Minute), "recipe", "voiceover", "JobsSucceeded")} {
		_, err := lw.Write([]byte(l))
		require.NoError(t, err)
	}
	_, _ = lw.Write([]byte("MixFunction | {\"_aws\": \"not EMF\"}\n"))
	_, _ = lw.Write([]byte("MixFunction | a plain line\n"))

	got := m.LastHour()
	require.Len(t, got, 1, "the two-hour-old point and the invalid lines are not kept")
	require.Equal(t, "MixFunction", got[0].Function)
	require.Equal(t, "JobsSucceeded", got[0].Name)
	require.Equal(t, map[string]string{"stage": "development", "recipe": "voiceover"}, got[0].Dimensions)
	require.Contains(t, out.String(), "a plain line", "the lines still reach the log")
}
