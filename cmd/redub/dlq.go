package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/redub/redub/local/stack"
	"github.com/redub/redub/shared/ops/deadletter"
)

const dlqUsage = `redub dlq list                        [target flags]
redub dlq show    <queue> [--max N]   [target flags]
redub dlq redrive <queue> [--max N] [--reset-jobs] [target flags]

<queue> is the template logical id of a queue or of its dead-letter queue
(TranscodeQueue, TranscodeDeadLetterQueue), a queue name, or a queue URL.

  list     every dead-letter queue with its depth and source queue
  show     the dead letters (peeked: they stay in the queue), at most --max (100)
  redrive  moves dead letters back to their source queue: each is sent, then
           deleted from the dead-letter queue only once the send succeeded, so
           none is lost; one whose delete fails is reported (it is then in both
           queues: harmless, every step is idempotent on job and step).
           --max N moves at most N. --reset-jobs first sets each message's job
           back to running and its step to queued (attempts reset), when the
           job failed at that step (the sweeper fails jobs whose message reached
           a dead-letter queue, and a step drops messages of failed jobs);
           it needs DATABASE_URL. Without it, those jobs stay failed.

target flags (default: the local stack running in this repository):
  --endpoint URL   any SQS endpoint (default AWS_ENDPOINT_URL_SQS)
  --queue-url URL  the queue by URL instead of <queue>; an amazonaws.com URL means real AWS
  --aws            real AWS: credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                   AWS_SESSION_TOKEN and the region from AWS_REGION (for a profile or SSO:
                   eval "$(aws configure export-credentials --format env)")
  --prefix P       only queues whose names start with P (a stack name, e.g. redub-production)
  --stack-dir D    the local stack's state directory (default <repository>/.dev)`

// dlqFlags are the flags every dlq command takes.
type dlqFlags struct {
	endpoint, queueURL, prefix, stackDir string
	aws, resetJobs                       bool
	max                                  int
}

// runDlq lists, shows and redrives dead-letter queues (`redub dlq`).
func runDlq(ctx context.Context, args []string, env *environ) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: %s", errUsage, dlqUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("dlq "+sub, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	var f dlqFlags
	fs.StringVar(&f.endpoint, "endpoint", "", "SQS endpoint URL")
	fs.StringVar(&f.queueURL, "queue-url", "", "queue URL")
	fs.StringVar(&f.prefix, "prefix", "", "queue name prefix")
	fs.StringVar(&f.stackDir, "stack-dir", "", "local stack state directory")
	fs.BoolVar(&f.aws, "aws", false, "real AWS")
	switch sub {
	case "show":
		fs.IntVar(&f.max, "max", 100, "show at most N messages (0: all)")
	case "redrive":
		fs.IntVar(&f.max, "max", 0, "move at most N messages (0: all)")
		fs.BoolVar(&f.resetJobs, "reset-jobs", false, "reset the jobs the sweeper failed so their steps run again")
	case "list":
	default:
		return fmt.Errorf("%w: unknown dlq command %q\n%s", errUsage, sub, dlqUsage)
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return fmt.Errorf("%w: %w\n%s", errUsage, err, dlqUsage)
	}
	ref := f.queueURL
	switch {
	case sub == "list" && len(pos) == 0:
	case sub != "list" && len(pos) == 1 && ref == "":
		ref = pos[0]
	case sub != "list" && len(pos) == 0 && ref != "":
	default:
		return fmt.Errorf("%w: %s", errUsage, dlqUsage)
	}
	c, where, err := dlqClient(ctx, f, env)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	switch sub {
	case "list":
		return dlqList(ctx, c, f, env.stdout, where)
	case "show":
		return dlqShow(ctx, c, f, ref, env)
	}
	return dlqRedrive(ctx, c, f, ref, env)
}

// dlqClient builds the SQS client the flags ask for and says where it points.
func dlqClient(ctx context.Context, f dlqFlags, env *environ) (*sqs.Client, string, error) {
	endpoint := f.endpoint
	if endpoint == "" && !f.aws {
		endpoint = env.getenv("AWS_ENDPOINT_URL_SQS")
	}
	onAWS := f.aws
	if endpoint == "" && f.queueURL != "" {
		u, err := url.Parse(f.queueURL)
		if err != nil || u.Host == "" {
			return nil, "", fmt.Errorf("--queue-url %q is not a URL", f.queueURL)
		}
		if strings.HasSuffix(u.Hostname(), ".amazonaws.com") || strings.HasSuffix(u.Hostname(), ".amazonaws.com.cn") {
			onAWS = true
		} else {
			endpoint = u.Scheme + "://" + u.Host
		}
	}
	region := env.getenv("AWS_REGION")
	if region == "" {
		region = env.getenv("AWS_DEFAULT_REGION")
	}
	id, secret, token := env.getenv("AWS_ACCESS_KEY_ID"), env.getenv("AWS_SECRET_ACCESS_KEY"), env.getenv("AWS_SESSION_TOKEN")
	if onAWS && endpoint == "" {
		if id == "" || secret == "" {
			return nil, "", errors.New(`real AWS needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for a profile or SSO: eval "$(aws configure export-credentials --format env)")`)
		}
		if region == "" {
			region = regionOf(f.queueURL)
		}
		if region == "" {
			return nil, "", errors.New("real AWS needs a region: set AWS_REGION")
		}
		return newSQS(region, "", id, secret, token), "AWS " + region, nil
	}
	if endpoint == "" {
		var err error
		if endpoint, err = localSQSEndpoint(ctx, env.client(), f.stackDir); err != nil {
			return nil, "", err
		}
	}
	if region == "" {
		region = stack.Region
	}
	if id == "" || secret == "" {
		id, secret, token = stack.AccessKey, stack.SecretKey, ""
	}
	return newSQS(region, endpoint, id, secret, token), endpoint, nil
}

func newSQS(region, endpoint, id, secret, token string) *sqs.Client {
	o := sqs.Options{Region: region, Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, token))}
	if endpoint != "" {
		o.BaseEndpoint = aws.String(endpoint)
	}
	return sqs.New(o)
}

// regionOf reads the region of an SQS URL, https://sqs.<region>.amazonaws.com/...
func regionOf(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" {
		return parts[1]
	}
	return ""
}

// localSQSEndpoint asks the running local stack for its SQS endpoint.
func localSQSEndpoint(ctx context.Context, client *http.Client, stackDir string) (string, error) {
	if stackDir == "" {
		root, err := findRoot()
		if err != nil {
			return "", fmt.Errorf("no SQS endpoint given (--endpoint, AWS_ENDPOINT_URL_SQS, --queue-url or --aws) and %w", err)
		}
		stackDir = filepath.Join(root, ".dev")
	}
	st, err := stack.ReadState(stackDir)
	if err != nil {
		return "", err
	}
	body, err := control(ctx, client, http.MethodGet, st.ControlURL+"/status", nil)
	if err != nil {
		return "", err
	}
	var status stack.Status
	if err := json.Unmarshal(body, &status); err != nil {
		return "", fmt.Errorf("local stack status: %w", err)
	}
	if status.Endpoints["sqs"] == "" {
		return "", errors.New("the local stack reports no SQS endpoint")
	}
	return status.Endpoints["sqs"], nil
}

func dlqList(ctx context.Context, c *sqs.Client, f dlqFlags, w io.Writer, where string) error {
	var pairs []deadletter.Pair
	if f.queueURL != "" {
		p, err := deadletter.Resolve(ctx, c, f.queueURL, f.prefix)
		if err != nil {
			return fmt.Errorf("dlq list: %w", err)
		}
		pairs = []deadletter.Pair{p}
	} else {
		var err error
		if pairs, err = deadletter.Discover(ctx, c, f.prefix); err != nil {
			return fmt.Errorf("dlq list: %w", err)
		}
	}
	if len(pairs) == 0 {
		fmt.Fprintf(w, "no queue with a dead-letter queue at %s\n", where)
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEAD-LETTER QUEUE\tMESSAGES\tIN FLIGHT\tSOURCE QUEUE\tMAX RECEIVES")
	for _, p := range pairs {
		d, err := deadletter.QueueDepth(ctx, c, p.DeadLetter.URL)
		if err != nil {
			return fmt.Errorf("dlq list: %w", err)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\n", p.DeadLetter.Name, d.Visible, d.InFlight, p.Source.Name, p.MaxReceiveCount)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n(%s", where)
	if !strings.HasPrefix(where, "AWS ") {
		fmt.Fprint(w, "; the local stand-in counts IN FLIGHT in MESSAGES too")
	}
	fmt.Fprintln(w, ")")
	return nil
}

func dlqShow(ctx context.Context, c *sqs.Client, f dlqFlags, ref string, env *environ) error {
	pair, err := deadletter.Resolve(ctx, c, ref, f.prefix)
	if err != nil {
		return fmt.Errorf("dlq show: %w", err)
	}
	msgs, peekErr := deadletter.Peek(ctx, c, pair.DeadLetter.URL, deadletter.Options{Max: f.max, Visibility: 10 * time.Second})
	if peekErr != nil && msgs == nil {
		return fmt.Errorf("dlq show: %w", peekErr)
	}
	w := env.stdout
	fmt.Fprintf(w, "%s: dead letters of %s (maxReceiveCount %d): %d message(s) shown, left in the queue\n",
		pair.DeadLetter.Name, pair.Source.Name, pair.MaxReceiveCount, len(msgs))
	for i, m := range msgs {
		fmt.Fprintf(w, "\n[%d] message %s  receive count %d", i+1, m.ID, m.ReceiveCount)
		if !m.SentAt.IsZero() {
			fmt.Fprintf(w, "  sent %s (%s ago)", m.SentAt.Format(time.RFC3339), time.Since(m.SentAt).Round(time.Second))
		}
		fmt.Fprintln(w)
		if m.Step != nil {
			fmt.Fprintf(w, "    job %s  step %s  attempt %d", m.Step.JobID, m.Step.Step, m.Step.Attempt)
			if m.Step.TraceID != "" {
				fmt.Fprintf(w, "  trace %s", m.Step.TraceID)
			}
			fmt.Fprintf(w, "   (redub trace %s)\n", m.Step.JobID)
		}
		if m.SourceARN != "" {
			fmt.Fprintf(w, "    from %s\n", m.SourceARN)
		}
		if len(m.Attributes) > 0 {
			keys := make([]string, 0, len(m.Attributes))
			for k := range m.Attributes {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "    attribute %s = %s\n", k, aws.ToString(m.Attributes[k].StringValue))
			}
		}
		body := []byte(m.Body)
		var pretty bytes.Buffer
		if json.Indent(&pretty, body, "    ", "  ") == nil {
			body = pretty.Bytes()
		}
		fmt.Fprintf(w, "    %s\n", body)
	}
	if d, err := deadletter.QueueDepth(ctx, c, pair.DeadLetter.URL); err == nil && d.InFlight > 0 {
		fmt.Fprintf(w, "\n%d message(s) are in flight: someone else received them (the sweeper peeks every minute and hides what it reads for 30 s); run show again shortly\n", d.InFlight)
	}
	if peekErr != nil {
		fmt.Fprintln(env.stderr, "dlq show: warning:", peekErr)
	}
	return nil
}

func dlqRedrive(ctx context.Context, c *sqs.Client, f dlqFlags, ref string, env *environ) error {
	pair, err := deadletter.Resolve(ctx, c, ref, f.prefix)
	if err != nil {
		return fmt.Errorf("dlq redrive: %w", err)
	}
	var reset deadletter.Resetter
	if f.resetJobs {
		db, err := openOpsDB(env)
		if err != nil {
			return fmt.Errorf("dlq redrive --reset-jobs: %w", err)
		}
		defer db.Close()
		reset = deadletter.JobReset{DB: db}
	}
	w := env.stdout
	fmt.Fprintf(w, "redrive %s -> %s\n", pair.DeadLetter.Name, pair.Source.Name)
	rep, runErr := deadletter.Redrive(ctx, c, pair, reset, deadletter.Options{Max: f.max})
	printRedrive(w, rep)

	steps := 0
	for _, o := range rep.Moved {
		if o.Step != nil {
			steps++
		}
	}
	fmt.Fprintf(w, "\nmoved %d, left %d in %s, %d sent but still in %s too\n",
		len(rep.Moved), len(rep.NotSent), pair.DeadLetter.Name, len(rep.NotDeleted), pair.DeadLetter.Name)
	if len(rep.NotSent) > 0 {
		fmt.Fprintln(w, "The messages left were not sent: they are back in the dead-letter queue once their visibility timeout (2 min) ends; fix the cause and run redrive again.")
	}
	if len(rep.NotDeleted) > 0 {
		fmt.Fprintf(w, "The messages still in both queues were sent, but their delete failed: each step is idempotent on (job, step), so the copy is harmless when it runs again, "+
			"but while it sits in %s the sweeper may fail its job again. Run redrive again once the delete works (with --reset-jobs if you used it).\n", pair.DeadLetter.Name)
	}
	if reset == nil && steps > 0 {
		fmt.Fprintln(w, "Jobs were not reset: a job the sweeper already failed stays failed and its step drops the message. Use --reset-jobs to run them again.")
	}
	if d, err := deadletter.QueueDepth(ctx, c, pair.DeadLetter.URL); err == nil {
		fmt.Fprintf(w, "%s now holds %d message(s), %d in flight\n", pair.DeadLetter.Name, d.Visible, d.InFlight)
		if d.InFlight > len(rep.NotSent)+len(rep.NotDeleted) {
			fmt.Fprintln(w, "Messages in flight were received by another reader (the sweeper peeks every minute and hides what it reads for 30 s): run redrive again shortly.")
		}
	}
	if runErr != nil {
		return fmt.Errorf("dlq redrive: stopped early: %w", runErr)
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("dlq redrive: %w", err)
	}
	return nil
}

func printRedrive(w io.Writer, rep deadletter.Report) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	line := func(what string, o deadletter.Outcome) {
		job := "-"
		if o.Step != nil {
			job = o.Step.JobID.String() + " " + o.Step.Step
		}
		detail := "-> " + o.To
		if o.Err != nil {
			detail = o.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", what, o.MessageID, job, detail)
	}
	resets := map[string]deadletter.ResetResult{}
	for _, r := range rep.Resets {
		resets[r.JobID+" "+r.Step] = r
	}
	for _, group := range []struct {
		what     string
		outcomes []deadletter.Outcome
	}{{"moved", rep.Moved}, {"LEFT", rep.NotSent}, {"DUPLICATE", rep.NotDeleted}} {
		for _, o := range group.outcomes {
			line(group.what, o)
			if o.Step == nil {
				continue
			}
			if r, ok := resets[o.Step.JobID.String()+" "+o.Step.Step]; ok {
				what := "  job left"
				if r.Done {
					what = "  job reset"
				}
				fmt.Fprintf(tw, "%s\t\t\t%s\n", what, r.Note)
			}
		}
	}
	_ = tw.Flush()
}
