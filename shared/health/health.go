// Package health answers the two uptime endpoints: GET /health (liveness:
// the process runs, with its version, commit and stage) and GET /health/ready
// (readiness: the database through the pooler, the bucket and the queues
// answer). Readiness names each failed dependency in a 503 problem and never
// panics; the full error goes to the log only.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/redub/redub/shared/httpapi"
	"github.com/redub/redub/shared/obs"
)

// Info is what liveness reports.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Stage   string `json:"stage"`
}

// Live answers 200 with the service's version, commit and stage.
func Live(info Info) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		httpapi.JSON(w, http.StatusOK, struct {
			Status string `json:"status"`
			Info
		}{"ok", info})
	})
}

// Check is one dependency probe.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Result is one check's outcome as reported to callers.
type Result struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"` // ok | failed
	DurationMS float64 `json:"duration_ms"`
}

type readyProblem struct {
	httpapi.Problem
	Checks []Result `json:"checks"`
}

// Ready runs every check in parallel, each within timeout, and answers 200
// when all pass, or a 503 problem naming the failed dependencies.
func Ready(checks []Check, timeout time.Duration, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		results := make([]Result, len(checks))
		errs := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Go(func() {
				start := time.Now()
				errs[i] = probe(ctx, c, timeout)
				results[i] = Result{Name: c.Name, Status: "ok", DurationMS: float64(time.Since(start).Microseconds()) / 1000}
				if errs[i] != nil {
					results[i].Status = "failed"
				}
			})
		}
		wg.Wait()
		var failed []string
		for i, err := range errs {
			if err != nil {
				failed = append(failed, checks[i].Name)
				log.WarnContext(ctx, "readiness check failed", "check", checks[i].Name, "error", err.Error())
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		if len(failed) == 0 {
			httpapi.JSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
			return
		}
		sort.Strings(failed)
		p := readyProblem{
			Problem: httpapi.Problem{
				Type: httpapi.ProblemType + "unavailable", Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
				Code: "unavailable", Instance: r.URL.Path, RequestID: obs.Fields(ctx)[obs.RequestID],
				Detail: "not ready: " + strings.Join(failed, ", ") + " unavailable",
			},
			Checks: results,
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(p)
	})
}

func probe(ctx context.Context, c Check, timeout time.Duration) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check %s panicked: %v", c.Name, p)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Probe(ctx)
}

// Pinger is the database call readiness makes.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Database checks the database through the pooler.
func Database(db Pinger) Check {
	return Check{Name: "database", Probe: db.Ping}
}

// HeadBucketAPI is the S3 call readiness makes.
type HeadBucketAPI interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

// Bucket checks that the bucket exists and is reachable with our credentials.
func Bucket(c HeadBucketAPI, bucket string) Check {
	return Check{Name: "bucket", Probe: func(ctx context.Context) error {
		_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
		if err != nil {
			return fmt.Errorf("head bucket %s: %w", bucket, err)
		}
		return nil
	}}
}

// GetQueueAttributesAPI is the SQS call readiness makes.
type GetQueueAttributesAPI interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Queue checks that one queue answers.
func Queue(c GetQueueAttributesAPI, name, url string) Check {
	return Check{Name: "queue:" + name, Probe: func(ctx context.Context) error {
		_, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       &url,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
		})
		if err != nil {
			return fmt.Errorf("get attributes of queue %s: %w", name, err)
		}
		return nil
	}}
}
