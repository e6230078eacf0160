package templatecheck_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/deploy/templatecheck"
	"github.com/redub/redub/shared/job"
)

// alarmRead is one metric an alarm reads, as the test sees it.
type alarmRead struct {
	name string
	dims map[string]string // dimension name -> value (a Ref as "Ref:<name>")
}

func reads(props map[string]any) []alarmRead {
	one := func(mm map[string]any) alarmRead {
		r := alarmRead{dims: map[string]string{}}
		if ns, _ := mm["Namespace"].(string); ns != "Redub" {
			return alarmRead{}
		}
		r.name, _ = mm["MetricName"].(string)
		ds, _ := mm["Dimensions"].([]any)
		for _, d := range ds {
			dm := m(d)
			n, _ := dm["Name"].(string)
			switch v := dm["Value"].(type) {
			case string:
				r.dims[n] = v
			case map[string]any:
				r.dims[n] = fmt.Sprintf("Ref:%v", v["Ref"])
			}
		}
		return r
	}
	if _, ok := props["MetricName"]; ok {
		return []alarmRead{one(props)}
	}
	var out []alarmRead
	qs, _ := props["Metrics"].([]any)
	for _, q := range qs {
		if mm := m(m(m(q)["MetricStat"])["Metric"]); mm != nil {
			out = append(out, one(mm))
		}
	}
	return out
}

// TestTheJobAlarmsReadTheJobEndMetrics: the two alarms on the job-end
// metrics exist, page, and read them under the dimension sets the EMF lines
// carry (stage alone, and stage + recipe): a failed-job rate over
// JobsFailed and JobsSucceeded, and a p95 JobDuration alarm per recipe
// against the JobDurationP95AlarmSeconds parameter.
func TestTheJobAlarmsReadTheJobEndMetrics(t *testing.T) {
	t.Parallel()
	tpl := realTemplate(t)
	rate := false
	p95 := map[string]bool{}
	for _, id := range tpl.IDs(templatecheck.TypeAlarm) {
		props := tpl.Properties(id)
		rs := reads(props)
		names := map[string]alarmRead{}
		for _, r := range rs {
			names[r.name] = r
		}
		if f, ok := names["JobsFailed"]; ok {
			s, ok := names["JobsSucceeded"]
			require.True(t, ok, "%s: a rate of failed jobs needs the succeeded ones", id)
			require.Equal(t, map[string]string{"stage": "Ref:Stage"}, f.dims, id)
			require.Equal(t, map[string]string{"stage": "Ref:Stage"}, s.dims, id)
			require.NotEmpty(t, props["AlarmActions"], "%s pages", id)
			rate = true
		}
		if d, ok := names["JobDuration"]; ok {
			require.Len(t, d.dims, 2, "%s: stage + recipe", id)
			require.Equal(t, "Ref:Stage", d.dims["stage"], id)
			require.Equal(t, "p95", props["ExtendedStatistic"], id)
			require.Equal(t, map[string]any{"Ref": "JobDurationP95AlarmSeconds"}, props["Threshold"], id)
			require.NotEmpty(t, props["AlarmActions"], "%s pages", id)
			p95[d.dims["recipe"]] = true
		}
	}
	require.True(t, rate, "no failed-job rate alarm")
	for _, r := range job.Recipes() {
		require.True(t, p95[string(r)], "no p95 JobDuration alarm for the %s recipe", r)
	}
}
