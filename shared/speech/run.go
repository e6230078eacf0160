package speech

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/redub/redub/shared/config"
)

// run runs bin with args, stdin as its input and its output in stdout. The
// error names tool and carries the useful end of its stderr; when ctx ends
// first, it wraps ctx's error.
func run(ctx context.Context, tool, bin string, args []string, stdin io.Reader, stdout io.Writer) error {
	tail := &tailBuffer{max: 8 << 10}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = config.ChildEnv() // no credentials or secrets: the engines read untrusted text and audio
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	cmd.Stderr = tail
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", tool, context.Cause(ctx))
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if msg := tail.problem(); msg != "" {
			return fmt.Errorf("%s: %w: %s", tool, err, msg)
		}
	}
	return fmt.Errorf("%s: %w", tool, err)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// problem returns the lines that report errors (engines log a lot of INFO),
// or the last line when none does.
func (t *tailBuffer) problem() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []string
	var last string
	for line := range bytes.Lines(t.buf) {
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		last = s
		if strings.Contains(s, "ERROR") || strings.Contains(s, "FATAL") || strings.HasPrefix(s, "Error") {
			errs = append(errs, s)
		}
	}
	if len(errs) == 0 {
		return last
	}
	if len(errs) > 3 {
		errs = errs[len(errs)-3:]
	}
	return strings.Join(errs, "; ")
}
