package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redub/redub/local/pgstack"
	"github.com/redub/redub/local/stack"
)

// runDev starts the local stack (`redub dev`) or talks to a running one
// (`redub dev status|invoke|fire`).
func runDev(ctx context.Context, args []string, env *environ) error {
	root, err := findRoot()
	if err != nil {
		return err
	}
	stateDir := filepath.Join(root, ".dev")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "status":
			return devStatus(ctx, stateDir, env)
		case "metrics":
			return devMetrics(ctx, stateDir, env)
		case "invoke":
			return devInvoke(ctx, stateDir, args[1:], env)
		case "fire":
			if len(args) != 2 {
				return fmt.Errorf("%w: redub dev fire <schedule>", errUsage)
			}
			return devControl(ctx, stateDir, "/fire/"+args[1], nil, env)
		}
		return fmt.Errorf("%w: unknown dev command %q (want status, metrics, invoke or fire)", errUsage, args[0])
	}

	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	reset := fs.Bool("reset", false, "wipe .dev (database, objects, queues) before starting")
	apiPort := fs.Int("api-port", stack.DefaultPorts.API, "HTTP API port")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *reset {
		if err := pgstack.Remove(filepath.Join(stateDir, "postgres")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("dev --reset: %w", err)
		}
		if err := os.RemoveAll(stateDir); err != nil {
			return fmt.Errorf("dev --reset: %w", err)
		}
		fmt.Fprintln(env.stdout, "dev: wiped", stateDir)
	}
	ports := stack.DefaultPorts
	ports.API = *apiPort
	start := time.Now()
	st, err := stack.Start(ctx, stack.Options{Root: root, StateDir: stateDir, Ports: ports, Getenv: env.getenv, Out: env.stdout})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(env.stdout, "dev: stopping")
		st.Stop(context.WithoutCancel(ctx))
		fmt.Fprintln(env.stdout, "dev: stopped; data kept in", stateDir, "(redub dev --reset wipes it)")
	}()
	fmt.Fprintf(env.stdout, "\ndev: the app is on %s (the console at %sapp/; sign in with any email)\n\n", st.AppURL(), st.AppURL())
	status, err := st.Status(ctx)
	if err != nil {
		return err
	}
	printStatus(env.stdout, status)
	fmt.Fprintf(env.stdout, "\ndev: ready in %.1fs (", time.Since(start).Seconds())
	for i, t := range st.Timings() {
		if i > 0 {
			fmt.Fprint(env.stdout, ", ")
		}
		fmt.Fprintf(env.stdout, "%s %.2fs", t.Phase, t.Duration.Seconds())
	}
	fmt.Fprintf(env.stdout, ")\ndev: open %s in a browser, or try `curl %s/health`; Ctrl-C stops everything\n", st.AppURL(), st.APIURL())
	<-ctx.Done()
	return nil
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("dev: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "template.yaml")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("dev: run inside the redub repository (no template.yaml and go.mod found above the current directory)")
		}
		dir = parent
	}
}

func devStatus(ctx context.Context, stateDir string, env *environ) error {
	st, err := stack.ReadState(stateDir)
	if err != nil {
		return err
	}
	body, err := control(ctx, env.client(), http.MethodGet, st.ControlURL+"/status", nil)
	if err != nil {
		return err
	}
	var status stack.Status
	if err := json.Unmarshal(body, &status); err != nil {
		return fmt.Errorf("dev status: %w", err)
	}
	printStatus(env.stdout, status)
	return nil
}

// devMetrics prints the metrics the running stack's functions wrote in the
// last hour (their EMF lines), one row per metric and dimensions.
func devMetrics(ctx context.Context, stateDir string, env *environ) error {
	st, err := stack.ReadState(stateDir)
	if err != nil {
		return err
	}
	body, err := control(ctx, env.client(), http.MethodGet, st.ControlURL+"/metrics", nil)
	if err != nil {
		return err
	}
	var points []stack.MetricPoint
	if err := json.Unmarshal(body, &points); err != nil {
		return fmt.Errorf("dev metrics: %w", err)
	}
	printMetrics(env.stdout, points)
	return nil
}

// printMetrics writes a table of points: per metric and dimensions, the
// count, sum, maximum and last value, and when it was last written.
func printMetrics(w io.Writer, points []stack.MetricPoint) {
	type row struct {
		name, unit, dims string
		n                int
		sum, maxV, last  float64
		at               time.Time
	}
	rows := map[string]*row{}
	var keys []string
	for _, p := range points {
		var dims []string
		for _, k := range slices.Sorted(maps.Keys(p.Dimensions)) {
			dims = append(dims, k+"="+p.Dimensions[k])
		}
		d := strings.Join(dims, " ")
		k := p.Name + "\x00" + d
		r, ok := rows[k]
		if !ok {
			r = &row{name: p.Name, unit: p.Unit, dims: d, maxV: p.Value}
			rows[k] = r
			keys = append(keys, k)
		}
		r.n++
		r.sum += p.Value
		r.maxV = max(r.maxV, p.Value)
		r.last, r.at = p.Value, p.At
	}
	slices.Sort(keys)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\tUNIT\tDIMENSIONS\tCOUNT\tSUM\tMAX\tLAST\tAT")
	for _, k := range keys {
		r := rows[k]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.6g\t%.6g\t%.6g\t%s\n", r.name, r.unit, r.dims, r.n, r.sum, r.maxV, r.last, r.at.Format("15:04:05"))
	}
	if len(keys) == 0 {
		fmt.Fprintln(tw, "(no metrics in the last hour)")
	}
	_ = tw.Flush()
}

func devInvoke(ctx context.Context, stateDir string, args []string, env *environ) error {
	fs := flag.NewFlagSet("dev invoke", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	event := fs.String("event", "", "event JSON file (- for stdin; default: functions/<name>/event.json)")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: redub dev invoke <FunctionLogicalId> [--event file.json]", errUsage)
	}
	fn := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	var payload []byte
	var err error
	switch *event {
	case "-":
		payload, err = io.ReadAll(os.Stdin)
	case "":
		payload = []byte("{}")
	default:
		payload, err = os.ReadFile(*event)
	}
	if err != nil {
		return fmt.Errorf("dev invoke: read event: %w", err)
	}
	if !json.Valid(payload) {
		return fmt.Errorf("dev invoke: the event is not valid JSON")
	}
	return devControl(ctx, stateDir, "/invoke/"+fn, payload, env)
}

func devControl(ctx context.Context, stateDir, path string, payload []byte, env *environ) error {
	st, err := stack.ReadState(stateDir)
	if err != nil {
		return err
	}
	body, err := control(ctx, env.client(), http.MethodPost, st.ControlURL+path, payload)
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		body = pretty.Bytes()
	}
	fmt.Fprintln(env.stdout, string(body))
	return nil
}

func control(ctx context.Context, client *http.Client, method, url string, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(payload)) //nolint:gosec // see below
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	res, err := client.Do(req) //nolint:gosec // the URL is the local stack's control endpoint on 127.0.0.1, from .dev/stack.json
	if err != nil {
		return nil, fmt.Errorf("dev: the local stack does not answer at %s (is `make dev` running?): %w", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("dev: %s", strings.TrimSpace(string(body)))
	}
	return body, nil
}

func printStatus(w io.Writer, st stack.Status) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tURL")
	for _, k := range []string{"api", "s3", "sqs", "postgres", "control"} {
		fmt.Fprintf(tw, "%s\t%s\n", k, st.Endpoints[k])
	}
	fmt.Fprintln(tw, "\nFUNCTION\tENVIRONMENTS\tBUSY\tINVOCATIONS\tERRORS\tTIMEOUTS")
	for _, f := range st.Functions {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", f.Name, f.Environments, f.Busy, f.Invocations, f.Errors, f.Timeouts)
	}
	if len(st.Queues) > 0 {
		fmt.Fprintln(tw, "\nQUEUE\tVISIBLE\tIN FLIGHT\tDLQ\tDLQ DEPTH")
		for _, q := range st.Queues {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\n", q.Name, q.Visible, q.InFlight, q.DeadLetter, q.DLQDepth)
		}
	}
	if len(st.Schedules) > 0 {
		fmt.Fprintln(tw, "\nSCHEDULE\tEXPRESSION\tFIRED")
		for _, s := range st.Schedules {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", s.Name, s.Expression, s.Fired)
		}
	}
	_ = tw.Flush()
}
