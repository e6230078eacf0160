package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redub/redub/shared/config"
)

// layerDir is where the FFmpeg Lambda layer puts its binaries.
const layerDir = "/opt/bin"

// fallbackTimeout bounds a run when neither RunOptions.Timeout nor
// Runner.DefaultTimeout is set: nothing runs without a limit.
const fallbackTimeout = 10 * time.Minute

// cancelPollInterval is how often RunOptions.Cancel is asked.
const cancelPollInterval = time.Second

// progressInterval is the shortest time between two OnProgress calls.
const progressInterval = 500 * time.Millisecond

// ErrCanceled is returned (wrapped) by Run and the methods built on it when
// RunOptions.Cancel reported true and FFmpeg was stopped.
var ErrCanceled = errors.New("media: stopped because the job was canceled")

// errTimedOut is the cancel cause of a run that hit its own timeout.
var errTimedOut = errors.New("media: run timed out")

// Runner finds and runs the FFmpeg binaries. The zero value is not usable;
// build one with NewRunner (or fill in both paths).
type Runner struct {
	FFmpeg  string // path of the ffmpeg binary
	FFprobe string // path of the ffprobe binary

	// DefaultTimeout bounds a Run whose RunOptions.Timeout is zero.
	// When it is zero too, runs are bounded by 10 minutes.
	DefaultTimeout time.Duration
}

// NewRunner finds ffmpeg and ffprobe: the paths in FFMPEG_PATH and
// FFPROBE_PATH when set, else the FFmpeg layer's /opt/bin, else PATH.
// The error names every missing binary and says how to install it.
func NewRunner(getenv func(string) string) (*Runner, error) {
	ffmpeg, err1 := findBinary(getenv, "FFMPEG_PATH", "ffmpeg")
	ffprobe, err2 := findBinary(getenv, "FFPROBE_PATH", "ffprobe")
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &Runner{FFmpeg: ffmpeg, FFprobe: ffprobe, DefaultTimeout: fallbackTimeout}, nil
}

func findBinary(getenv func(string) string, env, name string) (string, error) {
	if p := getenv(env); p != "" {
		if err := checkExecutable(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return p, nil
	}
	if p := layerDir + "/" + name; checkExecutable(p) == nil {
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: attach the FFmpeg layer (layers/ffmpeg, which provides %s/%s), "+
			"install it locally (apt-get install ffmpeg) or set %s", name, layerDir, name, env)
	}
	return p, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("not an executable file")
	}
	return nil
}

// RunOptions controls one FFmpeg run. The zero value runs with the
// Runner's default timeout and no progress or cancel checks.
type RunOptions struct {
	// Timeout is a hard limit on the run: when it passes, the process group
	// is killed and Run returns an *ExecError with TimedOut set. Give a value
	// below the Lambda's remaining time, so the failure can still be recorded.
	Timeout time.Duration

	// Duration is the media's duration, used to turn FFmpeg's progress
	// (the output time reached) into a percent.
	Duration time.Duration

	// OnProgress receives the percent done (0-100): at most every 500 ms
	// and only after a change of at least 1, plus a final 100 when FFmpeg
	// reports the end. It runs on Run's goroutines; keep it quick.
	OnProgress func(percent float64)

	// Cancel is polled about every second while FFmpeg runs; when it
	// returns true FFmpeg is killed and Run returns ErrCanceled.
	Cancel func() bool
}

// ExecError is a failed ffmpeg or ffprobe run. Its Error text is meant for
// people (it ends up in job failure reasons): the tool, what happened and the
// tool's last words.
type ExecError struct {
	Tool       string        // "ffmpeg" or "ffprobe"
	ExitCode   int           // the exit code; -1 when killed by a signal or never exited
	TimedOut   bool          // the run hit its timeout (or the context's deadline) and was killed
	Timeout    time.Duration // the limit that was hit, when TimedOut
	StderrTail string        // the last lines of stderr (at most 20 lines, 2 KB), cleaned up for reading
	Err        error         // the cause: *exec.ExitError, or context.DeadlineExceeded for a context deadline
}

// Error describes the failure in one line.
func (e *ExecError) Error() string {
	var b strings.Builder
	switch {
	case e.TimedOut:
		fmt.Fprintf(&b, "%s took too long and was stopped after %s", e.Tool, e.Timeout)
	case e.ExitCode >= 0:
		fmt.Fprintf(&b, "%s failed with exit code %d", e.Tool, e.ExitCode)
	default:
		fmt.Fprintf(&b, "%s was killed (%v)", e.Tool, e.Err)
	}
	if e.StderrTail != "" {
		b.WriteString(": ")
		b.WriteString(strings.ReplaceAll(e.StderrTail, "\n", "; "))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ExecError) Unwrap() error { return e.Err }

// Run runs ffmpeg with args. It always adds -nostdin -hide_banner -nostats
// -loglevel error -progress pipe:1, and puts -protocol_whitelist file before
// every -i (FFmpeg scopes input options to the next -i), so no input can
// open anything but local files. Callers must not write outputs to stdout
// (pipe:1), which carries the progress.
//
// Run returns nil when ffmpeg exits 0; an *ExecError when it fails or times
// out; an error wrapping ErrCanceled when opts.Cancel stopped it; and an
// error wrapping ctx's error when ctx is canceled.
func (r *Runner) Run(ctx context.Context, args []string, opts RunOptions) error {
	p := newProgressParser(opts.Duration, opts.OnProgress)
	_, err := r.exec(ctx, "ffmpeg", r.FFmpeg, ffmpegArgs(args), p, opts.Timeout, opts.Cancel)
	return err
}

// ffmpegArgs returns args with the flags Run always adds.
func ffmpegArgs(args []string) []string {
	out := make([]string, 0, len(args)+16)
	out = append(out, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error", "-progress", "pipe:1")
	return append(out, withWhitelist(args)...)
}

// withWhitelist puts "-protocol_whitelist file" right before every "-i", so
// it wins over any whitelist the caller gave for that input.
func withWhitelist(args []string) []string {
	out := make([]string, 0, len(args)+4)
	for _, a := range args {
		if a == "-i" {
			out = append(out, "-protocol_whitelist", "file")
		}
		out = append(out, a)
	}
	return out
}

// exec runs one binary with a timeout, an optional cancel poll and the
// process group killed on either; stdout goes to stdout (may be nil). It
// returns the cleaned stderr (its first 1 KB and last 8-16 KB), also after
// a successful run: FFmpeg exits 0 after many kinds of damaged input.
func (r *Runner) exec(ctx context.Context, tool, bin string, args []string, stdout io.Writer, timeout time.Duration, cancelPoll func() bool) (string, error) {
	if bin == "" {
		return "", fmt.Errorf("run %s: no binary configured (use media.NewRunner)", tool)
	}
	if timeout <= 0 {
		timeout = r.DefaultTimeout
	}
	if timeout <= 0 {
		timeout = fallbackTimeout
	}

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tctx, tcancel := context.WithTimeoutCause(cctx, timeout, errTimedOut)
	defer tcancel()

	tail := &tailBuffer{}
	cmd := exec.CommandContext(tctx, bin, args...)
	cmd.Stdout = stdout
	cmd.Stderr = tail
	cmd.Env = config.ChildEnv() // no credentials or secrets: the tool reads untrusted input
	cmd.WaitDelay = 2 * time.Second
	killGroupOnCancel(cmd)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", tool, err)
	}
	done := make(chan struct{})
	var polls sync.WaitGroup
	if cancelPoll != nil {
		polls.Go(func() {
			t := time.NewTicker(cancelPollInterval)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if cancelPoll() {
						cancel(ErrCanceled)
						return
					}
				}
			}
		})
	}
	err := cmd.Wait()
	close(done)
	polls.Wait()
	all, stderr := tail.all(), tail.String()
	if err == nil {
		return all, nil
	}

	cause := context.Cause(tctx)
	switch {
	case errors.Is(cause, ErrCanceled):
		return all, fmt.Errorf("%s: %w", tool, ErrCanceled)
	case errors.Is(cause, errTimedOut):
		return all, &ExecError{Tool: tool, ExitCode: -1, TimedOut: true, Timeout: timeout, StderrTail: stderr, Err: context.DeadlineExceeded}
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return all, &ExecError{Tool: tool, ExitCode: -1, TimedOut: true, Timeout: time.Since(start).Round(time.Millisecond), StderrTail: stderr, Err: ctx.Err()}
	case ctx.Err() != nil:
		return all, fmt.Errorf("%s: %w", tool, context.Cause(ctx))
	}
	e := &ExecError{Tool: tool, ExitCode: -1, StderrTail: stderr, Err: err}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		e.ExitCode = exitErr.ExitCode()
	}
	return all, e
}

// progressParser reads FFmpeg's -progress output (key=value lines, blocks
// ending in progress=continue or progress=end) and reports percents.
type progressParser struct {
	duration time.Duration
	fn       func(float64)

	mu      sync.Mutex
	partial []byte
	outTime time.Duration // the latest out_time seen
	ended   bool
	last    float64 // the last percent reported; -1 before the first
	lastAt  time.Time
}

func newProgressParser(d time.Duration, fn func(float64)) *progressParser {
	return &progressParser{duration: d, fn: fn, last: -1}
}

func (p *progressParser) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.line(string(bytes.TrimSpace(p.partial[:i])))
		p.partial = p.partial[i+1:]
	}
	if len(p.partial) > 4096 { // not progress output; don't grow without bound
		p.partial = p.partial[:0]
	}
	return len(b), nil
}

func (p *progressParser) line(l string) {
	key, val, ok := strings.Cut(l, "=")
	if !ok {
		return
	}
	switch key {
	case "out_time_us":
		if us, err := strconv.ParseInt(val, 10, 64); err == nil && us >= 0 {
			p.outTime = time.Duration(us) * time.Microsecond
		}
	case "progress":
		if val == "end" {
			p.ended = true
			if p.fn != nil && p.last < 100 {
				p.last = 100
				p.fn(100)
			}
			return
		}
		p.report()
	}
}

func (p *progressParser) report() {
	if p.fn == nil || p.duration <= 0 {
		return
	}
	pct := min(100, 100*float64(p.outTime)/float64(p.duration))
	now := time.Now()
	if pct-p.last < 1 || now.Sub(p.lastAt) < progressInterval {
		return
	}
	p.last, p.lastAt = pct, now
	p.fn(pct)
}

// position returns the latest output time and whether FFmpeg reported the end.
func (p *progressParser) position() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outTime, p.ended
}

// tailBuffer keeps the end of a stream, enough for the last 20 lines, and
// its first lines, which usually name the cause of a failure.
type tailBuffer struct {
	mu      sync.Mutex
	head    []byte // the first whole lines, up to headKeep bytes
	buf     []byte
	trimmed bool // buf no longer starts where head does
}

const (
	tailKeep  = 8 << 10 // bytes kept while running
	headKeep  = 1 << 10
	tailLines = 20
	tailBytes = 2 << 10
)

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > 2*tailKeep {
		if !t.trimmed {
			head := t.buf[:headKeep]
			if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
				head = head[:i+1]
			}
			t.head = append([]byte(nil), head...)
			t.trimmed = true
		}
		keep := t.buf[len(t.buf)-tailKeep:]
		if i := bytes.IndexByte(keep, '\n'); i >= 0 {
			keep = keep[i+1:] // start at a whole line
		}
		t.buf = append(t.buf[:0], keep...)
	}
	return len(b), nil
}

// ffmpegAddr matches the context pointer in "[h264 @ 0x55d0c0a1b2c0] ...".
var ffmpegAddr = regexp.MustCompile(` @ 0x[0-9a-f]+\]`)

// String returns the last lines (at most 20, 2 KB), as valid UTF-8 without
// control characters or FFmpeg's context pointers.
func (t *tailBuffer) String() string {
	return tailOf(t.lines())
}

// lines returns every kept line, cleaned up.
func (t *tailBuffer) lines() []string {
	t.mu.Lock()
	s := string(t.buf)
	t.mu.Unlock()
	return cleanLines(s)
}

// all returns the first lines and the last ones, cleaned up, with "..."
// where lines were dropped.
func (t *tailBuffer) all() string {
	t.mu.Lock()
	head, trimmed := string(t.head), t.trimmed
	t.mu.Unlock()
	tail := t.lines()
	if !trimmed {
		return strings.Join(tail, "\n")
	}
	return strings.Join(append(append(cleanLines(head), "..."), tail...), "\n")
}

func cleanLines(s string) []string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r == '\r' {
			return '\n'
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	var lines []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(ffmpegAddr.ReplaceAllString(l, "]"))
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// tailOf joins the last 20 lines, keeping at most 2 KB.
func tailOf(lines []string) string {
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	out := strings.Join(lines, "\n")
	for len(out) > tailBytes {
		i := strings.IndexByte(out, '\n')
		if i < 0 {
			// One huge line: keep its end, starting at a rune boundary.
			cut := len(out) - tailBytes
			for cut < len(out) && !utf8.RuneStart(out[cut]) {
				cut++
			}
			out = out[cut:]
			break
		}
		out = out[i+1:]
	}
	return out
}
