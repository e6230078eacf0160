package metric

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// units is the specification's list of allowed units.
var units = []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
	"Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
	"Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
	"Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}

// Line is a parsed EMF line: its metric values and dimension values by name.
type Line struct {
	Time       time.Time
	Namespace  string
	Dimensions map[string]string
	Metrics    map[string]float64
	Units      map[string]string
}

// Parse parses line as an EMF object and applies the specification's rules
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
// a root `_aws` with an integer Timestamp and a CloudWatchMetrics array of
// directives, each with a Namespace (1-1024 characters), Dimensions as an
// array of arrays of at most 30 names, and Metrics of Name and an allowed
// Unit (at most 100); every name a directive refers to is a top-level member,
// dimensions strings and metrics numbers.
func Parse(line []byte) (Line, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		return Line{}, fmt.Errorf("not a JSON object: %w", err)
	}
	rawAWS, ok := root["_aws"]
	if !ok {
		return Line{}, errors.New("no _aws member")
	}
	var meta struct {
		Timestamp         json.RawMessage `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string            `json:"Namespace"`
			Dimensions [][]string        `json:"Dimensions"`
			Metrics    []json.RawMessage `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(rawAWS, &meta); err != nil {
		return Line{}, fmt.Errorf("_aws: %w", err)
	}
	if meta.Timestamp == nil {
		return Line{}, errors.New("_aws.Timestamp missing")
	}
	var ms int64
	if err := json.Unmarshal(meta.Timestamp, &ms); err != nil {
		return Line{}, fmt.Errorf("_aws.Timestamp %s is not an integer of milliseconds", meta.Timestamp)
	}
	if meta.CloudWatchMetrics == nil {
		return Line{}, errors.New("_aws.CloudWatchMetrics missing")
	}
	out := Line{Time: time.UnixMilli(ms), Dimensions: map[string]string{}, Metrics: map[string]float64{}, Units: map[string]string{}}
	for i, d := range meta.CloudWatchMetrics {
		if n := len(d.Namespace); n < 1 || n > 1024 {
			return Line{}, fmt.Errorf("directive %d: Namespace %q", i, d.Namespace)
		}
		out.Namespace = d.Namespace
		if d.Dimensions == nil {
			return Line{}, fmt.Errorf("directive %d: Dimensions missing", i)
		}
		for _, set := range d.Dimensions {
			if len(set) > 30 {
				return Line{}, fmt.Errorf("directive %d: a dimension set of %d names (at most 30)", i, len(set))
			}
			for _, name := range set {
				var v string
				if err := json.Unmarshal(root[name], &v); err != nil {
					return Line{}, fmt.Errorf("directive %d: dimension %q is not a top-level string member", i, name)
				}
				out.Dimensions[name] = v
			}
		}
		if len(d.Metrics) == 0 || len(d.Metrics) > 100 {
			return Line{}, fmt.Errorf("directive %d: %d metrics (want 1 to 100)", i, len(d.Metrics))
		}
		for _, raw := range d.Metrics {
			var m struct {
				Name string  `json:"Name"`
				Unit *string `json:"Unit"`
			}
			if err := json.Unmarshal(raw, &m); err != nil || m.Name == "" {
				return Line{}, fmt.Errorf("directive %d: a metric without a Name", i)
			}
			if m.Unit != nil && !slices.Contains(units, *m.Unit) {
				return Line{}, fmt.Errorf("metric %s: unit %q is not one CloudWatch allows", m.Name, *m.Unit)
			}
			var v float64
			if err := json.Unmarshal(root[m.Name], &v); err != nil {
				return Line{}, fmt.Errorf("metric %s is not a top-level number member", m.Name)
			}
			out.Metrics[m.Name] = v
			if m.Unit != nil {
				out.Units[m.Name] = *m.Unit
			}
		}
	}
	return out, nil
}
