package stack

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"github.com/redub/redub/shared/metric"
)

// metricWindow is how long the local stack keeps the metrics its functions wrote.
const metricWindow = time.Hour

// MetricPoint is one metric value a function wrote as an EMF line.
type MetricPoint struct {
	At         time.Time         `json:"at"`
	Function   string            `json:"function"`
	Name       string            `json:"name"`
	Unit       string            `json:"unit"`
	Value      float64           `json:"value"`
	Dimensions map[string]string `json:"dimensions"`
}

// Metrics collects the EMF lines in the functions' output, as CloudWatch
// Logs would, for `redub dev metrics`. It keeps the last hour.
type Metrics struct {
	mu     sync.Mutex
	points []MetricPoint
	now    func() time.Time
}

// NewMetrics returns an empty collector.
func NewMetrics() *Metrics { return &Metrics{now: time.Now} }

// Observe reads one output line ("Function | {...}"); lines that are not
// valid EMF are ignored, as CloudWatch ignores them.
func (m *Metrics) Observe(line []byte) {
	fn, body, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" | "))
	if !ok || !bytes.Contains(body, []byte(`"_aws"`)) {
		return
	}
	l, err := metric.Parse(body)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, v := range l.Metrics {
		m.points = append(m.points, MetricPoint{At: l.Time, Function: string(fn), Name: name, Unit: l.Units[name], Value: v, Dimensions: l.Dimensions})
	}
	m.prune()
}

// LastHour returns the points of the last hour, oldest first.
func (m *Metrics) LastHour() []MetricPoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune()
	return slices.Clone(m.points)
}

func (m *Metrics) prune() {
	cut := m.now().Add(-metricWindow)
	i := 0
	for i < len(m.points) && m.points[i].At.Before(cut) {
		i++
	}
	m.points = m.points[i:]
}

// Metrics returns the metrics the functions wrote in the last hour, oldest first.
func (s *Stack) Metrics() []MetricPoint { return s.metrics.LastHour() }
