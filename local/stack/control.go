package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	localsqs "github.com/redub/redub/local/sqs"
	"github.com/redub/redub/shared/postgres"
)

// Status is what `redub dev status` shows.
type Status struct {
	Endpoints map[string]string `json:"endpoints"`
	Functions []FunctionStatus  `json:"functions"`
	Queues    []QueueStatus     `json:"queues"`
	Schedules []ScheduleStatus  `json:"schedules"`
	Uptime    string            `json:"uptime"`
}

// FunctionStatus is one function's pool.
type FunctionStatus struct {
	Name         string `json:"name"`
	Environments int    `json:"environments"`
	Busy         int    `json:"busy"`
	Invocations  int    `json:"invocations"`
	ColdStarts   int    `json:"cold_starts"`
	Errors       int    `json:"errors"`
	Timeouts     int    `json:"timeouts"`
	Routes       int    `json:"routes"`
}

// QueueStatus is one queue's depth.
type QueueStatus struct {
	Name       string `json:"name"`
	Visible    int    `json:"visible"`
	InFlight   int    `json:"in_flight"`
	DeadLetter string `json:"dead_letter,omitempty"`
	DLQDepth   int    `json:"dlq_depth"`
}

// ScheduleStatus is one schedule.
type ScheduleStatus struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Fired      int    `json:"fired"`
}

// Status collects the stack's current state.
func (s *Stack) Status(ctx context.Context) (Status, error) {
	st := Status{
		Endpoints: map[string]string{
			"api":      s.apiURL,
			"s3":       s.s3gw.Endpoint(),
			"sqs":      s.sqsServer.Endpoint(),
			"postgres": postgres.Redact(s.dbPooled) + " (pooled)",
			"control":  s.controlURL,
		},
		Uptime: time.Since(s.started).Round(time.Second).String(),
	}
	for _, p := range s.lambdas.Stats() {
		st.Functions = append(st.Functions, FunctionStatus{
			Name: p.Name, Environments: p.Environments, Busy: p.Busy, Invocations: p.Invocations,
			ColdStarts: p.ColdStarts, Errors: p.Errors, Timeouts: p.Timeouts, Routes: len(s.tpl.Functions[p.Name].Routes),
		})
	}
	sort.Slice(st.Functions, func(i, j int) bool { return st.Functions[i].Name < st.Functions[j].Name })
	urls := map[string]string{}
	for name, q := range s.queues {
		urls[name] = q.URL
	}
	depths, err := localsqs.Depths(ctx, s.sqsClient, urls)
	if err != nil {
		return st, err
	}
	dlqOf := map[string]bool{}
	for _, q := range s.tpl.Queues {
		if q.DeadLetter != "" {
			dlqOf[s.tpl.Queues[q.DeadLetter].Name] = true
		}
	}
	for _, q := range s.tpl.Queues {
		if dlqOf[q.Name] {
			continue
		}
		qs := QueueStatus{Name: q.Name, Visible: depths[q.Name].Visible, InFlight: depths[q.Name].InFlight}
		if q.DeadLetter != "" {
			d := s.tpl.Queues[q.DeadLetter].Name
			qs.DeadLetter, qs.DLQDepth = d, depths[d].Visible+depths[d].InFlight
		}
		st.Queues = append(st.Queues, qs)
	}
	sort.Slice(st.Queues, func(i, j int) bool { return st.Queues[i].Name < st.Queues[j].Name })
	fired := s.sched.Fired()
	for _, f := range s.tpl.Functions {
		for _, sc := range f.Schedules {
			st.Schedules = append(st.Schedules, ScheduleStatus{Name: sc.Name, Expression: sc.Expression, Fired: fired[sc.Name]})
		}
	}
	sort.Slice(st.Schedules, func(i, j int) bool { return st.Schedules[i].Name < st.Schedules[j].Name })
	return st, nil
}

func (s *Stack) startControl() error {
	ln, err := listen(s.opts.Ports.Control)
	if err != nil {
		return err
	}
	s.controlURL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.Status(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		out, err := json.Marshal(s.metrics.LastHour())
		reply(w, out, err)
	})
	mux.HandleFunc("POST /invoke/{function}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := s.Invoke(r.Context(), r.PathValue("function"), body)
		reply(w, out, err)
	})
	mux.HandleFunc("POST /fire/{schedule}", func(w http.ResponseWriter, r *http.Request) {
		out, err := s.Fire(r.Context(), r.PathValue("schedule"))
		reply(w, out, err)
	})
	s.serve(ln, mux)
	return nil
}

func reply(w http.ResponseWriter, out []byte, err error) {
	if err != nil {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintln(w, err.Error()) //nolint:gosec // text/plain for the local operator CLI, not a browser
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out) //nolint:gosec // a function's JSON answer to the local operator CLI
}
