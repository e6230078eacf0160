package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/redub/redub/local/template"
)

// ErrNotInstalled is returned (wrapped) by StartGateway when the versitygw
// binary is missing.
var ErrNotInstalled = errors.New("versitygw is not installed (run make tools)")

// GatewayOptions configures StartGateway.
type GatewayOptions struct {
	// Binary is the versitygw executable; "" looks for versitygw in PATH.
	Binary string
	// DataDir holds the buckets (one directory each) and their objects. It
	// is created when missing and kept across restarts.
	DataDir string
	// Port is the port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// AccessKey and SecretKey are the root credentials every request must
	// be signed with.
	AccessKey, SecretKey string
	// Region is the gateway's region; "" means us-east-1.
	Region string
	// WebhookURL receives versitygw's event posts (a Relay's ServeHTTP); ""
	// turns events off. versitygw posts a test event to it as it starts and
	// refuses to start when nothing listens there, so start the Relay's
	// server first.
	WebhookURL string
	// Events limits the event types versitygw posts (its --event-filter),
	// e.g. "s3:ObjectCreated:*"; nil posts every type.
	Events []string
	// MetaDir keeps object metadata when DataDir's filesystem has no
	// extended attributes (versitygw's --sidecar); "" means a directory
	// named .<base of DataDir>-meta beside DataDir. It must not start with
	// DataDir's path (versitygw compares them as strings). It is not used
	// where extended attributes work.
	MetaDir string
	// Log receives versitygw's output, a line per request included; nil
	// discards it (and turns the request lines off).
	Log io.Writer

	forceSidecar bool // tests: use MetaDir even where extended attributes work
}

// Gateway is a running versitygw process serving the S3 API.
type Gateway struct {
	cmd        *exec.Cmd
	done       chan struct{} // closed once the process has been reaped
	port       int
	filterFile string
	tail       *tailBuffer

	stopOnce sync.Once
	stopErr  error
}

const (
	readyTimeout = 15 * time.Second
	stopGrace    = 10 * time.Second
)

// StartGateway starts versitygw over opts.DataDir and returns once it
// answers S3 requests. The error wraps ErrNotInstalled when the binary is
// missing, and holds the end of versitygw's output when it exits early.
// The gateway runs until Stop (or until the calling process dies).
func StartGateway(ctx context.Context, opts GatewayOptions) (*Gateway, error) {
	if opts.DataDir == "" || opts.AccessKey == "" || opts.SecretKey == "" {
		return nil, errors.New("start versitygw: DataDir, AccessKey and SecretKey are required")
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	bin, err := findBinary(opts.Binary)
	if err != nil {
		return nil, err
	}
	if opts.DataDir, err = filepath.Abs(opts.DataDir); err != nil {
		return nil, fmt.Errorf("start versitygw: data dir: %w", err)
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("start versitygw: create data dir: %w", err)
	}
	sidecar := ""
	if opts.forceSidecar || !hasXattrs(opts.DataDir) {
		if sidecar, err = metaDir(opts); err != nil {
			return nil, err
		}
	}
	filterFile := ""
	if opts.WebhookURL != "" && opts.Events != nil {
		if filterFile, err = writeFilter(opts.Events); err != nil {
			return nil, err
		}
	}

	// A free port found by listening may be taken again before versitygw
	// binds it; then try another.
	for attempt := 0; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(ctx); err != nil {
				removeFile(filterFile)
				return nil, err
			}
		}
		g, err := launch(ctx, bin, gatewayArgs(opts, port, filterFile, sidecar), port, opts.Log)
		if err == nil {
			g.filterFile = filterFile
			return g, nil
		}
		if opts.Port != 0 || attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			removeFile(filterFile)
			return nil, err
		}
	}
}

// metaDir returns the sidecar directory for opts, created.
func metaDir(opts GatewayOptions) (string, error) {
	dir := opts.MetaDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(opts.DataDir), "."+filepath.Base(opts.DataDir)+"-meta")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("start versitygw: metadata dir: %w", err)
	}
	if strings.HasPrefix(dir, opts.DataDir) {
		return "", fmt.Errorf("start versitygw: metadata dir %s must not start with the data dir's path %s", dir, opts.DataDir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("start versitygw: create metadata dir: %w", err)
	}
	return dir, nil
}

func findBinary(bin string) (string, error) {
	if bin == "" {
		path, err := exec.LookPath("versitygw")
		if err != nil {
			return "", fmt.Errorf("start versitygw: %w: not in PATH", ErrNotInstalled)
		}
		return path, nil
	}
	info, err := os.Stat(bin)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("start versitygw: %w: no executable at %s", ErrNotInstalled, bin)
	}
	return bin, nil
}

// hasXattrs reports whether dir's filesystem keeps user extended
// attributes, where versitygw stores object metadata by default.
func hasXattrs(dir string) bool {
	const name = "user.redub.probe"
	if err := syscall.Setxattr(dir, name, []byte("1"), 0); err != nil {
		return false
	}
	_ = syscall.Removexattr(dir, name)
	return true
}

func writeFilter(eventTypes []string) (string, error) {
	filter := make(map[string]bool, len(eventTypes))
	for _, e := range eventTypes {
		filter[e] = true
	}
	b, err := json.Marshal(filter)
	if err != nil {
		return "", fmt.Errorf("start versitygw: encode event filter: %w", err)
	}
	f, err := os.CreateTemp("", "versitygw-filter-*.json")
	if err != nil {
		return "", fmt.Errorf("start versitygw: write event filter: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("start versitygw: write event filter: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("start versitygw: write event filter: %w", err)
	}
	return f.Name(), nil
}

func gatewayArgs(opts GatewayOptions, port int, filterFile, sidecar string) []string {
	args := []string{
		"--access", opts.AccessKey,
		"--secret", opts.SecretKey,
		"--region", opts.Region,
		"--port", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
	}
	if opts.Log == nil {
		args = append(args, "--quiet")
	}
	if opts.WebhookURL != "" {
		args = append(args, "--event-webhook-url", opts.WebhookURL)
		if filterFile != "" {
			args = append(args, "--event-filter", filterFile)
		}
	}
	args = append(args, "posix")
	if sidecar != "" {
		args = append(args, "--sidecar", sidecar)
	}
	return append(args, opts.DataDir)
}

// launch starts versitygw and waits until it answers HTTP.
func launch(ctx context.Context, bin string, args []string, port int, log io.Writer) (*Gateway, error) {
	tail := &tailBuffer{max: 4096}
	out := io.Writer(tail)
	if log != nil {
		out = io.MultiWriter(log, tail)
	}
	cmd := exec.Command(bin, args...) //nolint:noctx // the gateway outlives ctx; Stop ends it
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:    true,            // a Ctrl-C meant for the caller does not reach it
		Pdeathsig: syscall.SIGKILL, // a killed test binary takes it along
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	g := &Gateway{cmd: cmd, done: make(chan struct{}), port: port, tail: tail}
	go func() {
		_ = cmd.Wait()
		close(g.done)
	}()
	if err := g.waitReady(ctx); err != nil {
		_ = g.kill()
		return nil, fmt.Errorf("start versitygw: %w; output:\n%s", err, tail.String())
	}
	return g, nil
}

// childEnv is the caller's environment without the variables versitygw
// reads its settings from, so only the flags configure it.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VGW_") || strings.HasPrefix(name, "ROOT_") || name == "WEBHOOK" || name == "LOGFILE" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// waitReady polls the endpoint until any HTTP answer comes back (an
// unsigned request gets 403), the process exits, or time runs out.
func (g *Gateway) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.Endpoint()+"/", http.NoBody)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-g.done:
			return fmt.Errorf("exited (%s)", g.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not answering on %s: %w", g.Endpoint(), ctx.Err())
		case <-tick.C:
		}
	}
}

// Endpoint returns the gateway's base URL, http://127.0.0.1:<port>, for
// path-style clients (BaseEndpoint, UsePathStyle).
func (g *Gateway) Endpoint() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(g.port))
}

// Stop ends the gateway: SIGTERM, then SIGKILL when it has not exited when
// ctx ends or after ten seconds. It returns once the process is gone and its
// port is free again, or with an error saying which is not. Calling it again
// returns the first result.
func (g *Gateway) Stop(ctx context.Context) error {
	g.stopOnce.Do(func() {
		g.stopErr = g.stop(ctx)
		removeFile(g.filterFile)
	})
	return g.stopErr
}

func (g *Gateway) stop(ctx context.Context) error {
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop versitygw: %w", err)
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-g.done:
	case <-grace.C:
		if err := g.kill(); err != nil {
			return err
		}
	case <-ctx.Done():
		if err := g.kill(); err != nil {
			return err
		}
	}
	return waitPortFree(g.port)
}

// kill sends SIGKILL and waits for the process to be reaped.
func (g *Gateway) kill() error {
	if err := g.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill versitygw: %w", err)
	}
	select {
	case <-g.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("versitygw (pid %d) still running after SIGKILL", g.cmd.Process.Pid)
	}
}

// waitPortFree waits until port can be bound again, for a few seconds at
// most (the caller's ctx may be over already: it is what made us kill).
func waitPortFree(port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err == nil {
			return l.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop versitygw: port %d still in use: %w", port, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func removeFile(path string) {
	if path != "" {
		_ = os.Remove(path)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// EnsureBucket creates bucket name unless it exists already and is the
// caller's. c must be a path-style client of the gateway. It returns an
// error when the bucket belongs to someone else or cannot be created.
func EnsureBucket(ctx context.Context, c *awss3.Client, name string) error {
	in := &awss3.CreateBucketInput{Bucket: aws.String(name)}
	if region := c.Options().Region; region != "" && region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err := c.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err == nil || errors.As(err, &owned) {
		return nil
	}
	return fmt.Errorf("create bucket %s: %w", name, err)
}

// PutCORS sets a bucket's CORS rules (the template's CorsConfiguration), so
// a browser on the app's origin can PUT to presigned URLs and read ETags.
// No rules deletes the configuration.
func PutCORS(ctx context.Context, c *awss3.Client, bucket string, rules []template.CORSRule) error {
	if len(rules) == 0 {
		if _, err := c.DeleteBucketCors(ctx, &awss3.DeleteBucketCorsInput{Bucket: aws.String(bucket)}); err != nil {
			return fmt.Errorf("delete cors of %s: %w", bucket, err)
		}
		return nil
	}
	cfg := &types.CORSConfiguration{}
	for _, r := range rules {
		rule := types.CORSRule{AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposedHeaders}
		if r.MaxAge > 0 {
			rule.MaxAgeSeconds = aws.Int32(int32(min(r.MaxAge, 1<<30)))
		}
		cfg.CORSRules = append(cfg.CORSRules, rule)
	}
	if _, err := c.PutBucketCors(ctx, &awss3.PutBucketCorsInput{Bucket: aws.String(bucket), CORSConfiguration: cfg}); err != nil {
		return fmt.Errorf("put cors of %s: %w", bucket, err)
	}
	return nil
}
