package media

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
)

// TestChildEnvironment runs a real ffmpeg through Run with credentials and
// secrets in this process's environment, and reads the child's environment
// from /proc: it holds the fixed child environment and nothing else.
func TestChildEnvironment(t *testing.T) {
	for _, kv := range [][2]string{
		{"AWS_ACCESS_KEY_ID", "AKIDCHILDENVTEST"}, {"AWS_SECRET_ACCESS_KEY", "child-env-secret"},
		{"AWS_SESSION_TOKEN", "child-env-token"}, {"DATABASE_URL", "postgres://u:child-env-pw@h/db"},
		{"AUTH_SECRET", "child-env-auth-secret-0123456789abcdef"}, {"OPENAI_API_KEY", "sk-child-env"},
	} {
		t.Setenv(kv[0], kv[1])
	}
	r, err := NewRunner(os.Getenv)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// -re: a minute of real time, ended by cancel once the environment is read.
		done <- r.Run(ctx, []string{"-re", "-f", "lavfi", "-i", "sine=r=8000:d=60", "-f", "null", "-"}, RunOptions{})
	}()

	var environ []byte
	require.Eventually(t, func() bool {
		pid := childOf(t, os.Getpid(), r.FFmpeg)
		if pid == 0 {
			return false
		}
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
		if err != nil || len(b) == 0 { // not yet exec'd, or gone
			return false
		}
		environ = b
		return true
	}, 10*time.Second, 20*time.Millisecond, "ffmpeg never started")
	cancel()
	<-done

	got := strings.Split(strings.TrimSuffix(string(environ), "\x00"), "\x00")
	require.Equal(t, config.ChildEnv(), got)
	for _, kv := range got {
		require.NotContains(t, kv, "child-env")
		require.False(t, strings.HasPrefix(kv, "AWS_"), kv)
	}
}

// childOf returns the pid of a child of parent whose executable is bin, or 0.
func childOf(t *testing.T, parent int, bin string) int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(parent) {
			continue
		}
		dir := filepath.Dir(st)
		if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil && exe == bin {
			pid, _ := strconv.Atoi(filepath.Base(dir))
			return pid
		}
	}
	return 0
}
