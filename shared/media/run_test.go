package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewRunner(t *testing.T) {
	t.Parallel()

	t.Run("env paths win", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for _, n := range []string{"ff", "fp"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755))
		}
		env := map[string]string{"FFMPEG_PATH": filepath.Join(dir, "ff"), "FFPROBE_PATH": filepath.Join(dir, "fp")}
		r, err := NewRunner(func(k string) string { return env[k] })
		require.NoError(t, err)
		require.Equal(t, env["FFMPEG_PATH"], r.FFmpeg)
		require.Equal(t, env["FFPROBE_PATH"], r.FFprobe)
		require.Positive(t, r.DefaultTimeout)
	})

	t.Run("missing binaries are named with how to install them", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{"FFMPEG_PATH": "/nonexistent/ffmpeg", "FFPROBE_PATH": "/nonexistent/ffprobe"}
		_, err := NewRunner(func(k string) string { return env[k] })
		require.ErrorContains(t, err, "FFMPEG_PATH=/nonexistent/ffmpeg")
		require.ErrorContains(t, err, "FFPROBE_PATH=/nonexistent/ffprobe")

		_, err = findBinary(func(string) string { return "" }, "FFMPEG_PATH", "no-such-tool-redub")
		require.ErrorContains(t, err, "no-such-tool-redub not found")
		require.ErrorContains(t, err, "apt-get install ffmpeg")
		require.ErrorContains(t, err, "layers/ffmpeg")
	})
}

func TestWithWhitelist(t *testing.T) {
	t.Parallel()
	got := withWhitelist([]string{"-ss", "1", "-f", "mov", "-i", "a", "-i", "b", "-map", "0", "out"})
	require.Equal(t, []string{"-ss", "1", "-f", "mov", "-protocol_whitelist", "file", "-i", "a",
		"-protocol_whitelist", "file", "-i", "b", "-map", "0", "out"}, got)
}

func TestRunProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// -re reads the 2 s source in real time, so FFmpeg reports progress
	// several times before the end.
	var mu sync.Mutex
	var got []float64
	var at []time.Time
	err := b.r.Run(b.ctx, []string{"-re", "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25", "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-f", "mp4", "-y", filepath.Join(b.dir, "out.mp4")},
		RunOptions{Duration: 2 * time.Second, OnProgress: func(p float64) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, p)
			at = append(at, time.Now())
		}})
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	t.Logf("progress: %.1f", got)
	require.GreaterOrEqual(t, len(got), 3, "progress during the run and at the end")
	require.Equal(t, 100.0, got[len(got)-1])
	for i := 1; i < len(got); i++ {
		require.GreaterOrEqual(t, got[i]-got[i-1], 1.0, "steps of at least 1%%: %v", got)
		if i < len(got)-1 { // the final 100 is never held back
			require.GreaterOrEqual(t, at[i].Sub(at[i-1]), progressInterval-10*time.Millisecond)
		}
	}
}

func TestProgressParser(t *testing.T) {
	t.Parallel()
	var got []float64
	p := newProgressParser(10*time.Second, func(v float64) { got = append(got, v) })
	block := func(us string) string {
		return "frame=1\nout_time_us=" + us + "\nout_time=00:00:00\nprogress=continue\n"
	}
	// Split across writes the way a pipe may deliver it.
	in := block("N/A") + block("1000000") + block("1001000") + "out_time_us=5000000\nprogress=end\n"
	for len(in) > 0 {
		n := min(7, len(in))
		_, _ = p.Write([]byte(in[:n]))
		in = in[n:]
	}
	// 0% first; 10% 1 ms later is held back (not 500 ms yet); then the end.
	require.Equal(t, []float64{0, 100}, got)
	d, ended := p.position()
	require.True(t, ended)
	require.Equal(t, 5*time.Second, d)
}

func TestRunTimeoutKillsFFmpeg(t *testing.T) {
	t.Parallel()
	b := setup(t)
	marker := filepath.Join(b.dir, "timeout.wav")

	start := time.Now()
	err := b.r.Run(b.ctx, []string{"-re", "-f", "lavfi", "-i", "anullsrc", "-t", "60", "-f", "wav", "-y", marker},
		RunOptions{Timeout: 300 * time.Millisecond})
	elapsed := time.Since(start)

	var ee *ExecError
	require.ErrorAs(t, err, &ee)
	require.True(t, ee.TimedOut)
	require.Equal(t, 300*time.Millisecond, ee.Timeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, "ffmpeg took too long and was stopped after 300ms", ee.Error())
	require.Less(t, elapsed, 3*time.Second)
	requireGone(t, marker)
}

func TestRunContextDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(b.ctx, 300*time.Millisecond)
	defer cancel()
	err := b.r.Run(ctx, []string{"-re", "-f", "lavfi", "-i", "anullsrc", "-t", "60", "-f", "null", "-"}, RunOptions{})
	var ee *ExecError
	require.ErrorAs(t, err, &ee)
	require.True(t, ee.TimedOut)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	marker := filepath.Join(b.dir, "cancel.wav")

	var polls atomic.Int32
	start := time.Now()
	err := b.r.Run(b.ctx, []string{"-re", "-f", "lavfi", "-i", "anullsrc", "-t", "60", "-f", "wav", "-y", marker},
		RunOptions{Cancel: func() bool { return polls.Add(1) >= 2 }})
	elapsed := time.Since(start)

	require.ErrorIs(t, err, ErrCanceled)
	require.EqualValues(t, 2, polls.Load())
	require.Greater(t, elapsed, 1500*time.Millisecond, "polled about every second")
	require.Less(t, elapsed, 4*time.Second)
	requireGone(t, marker)
}

func TestRunFailureCarriesStderrTail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	missing := filepath.Join(b.dir, "missing.mp4")

	err := b.r.Run(b.ctx, []string{"-f", "mov", "-i", "file:" + missing, "-f", "null", "-"}, RunOptions{})
	var ee *ExecError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, "ffmpeg", ee.Tool)
	require.Equal(t, 1, ee.ExitCode)
	require.False(t, ee.TimedOut)
	require.Contains(t, ee.StderrTail, "No such file or directory")
	require.True(t, strings.HasPrefix(ee.Error(), "ffmpeg failed with exit code 1: "), ee.Error())
	t.Log(ee.Error())
}

func TestRunWhitelistAppliesToEveryInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good := b.audio(t, "a.wav", time.Second)

	// The second input names the network and a concat of local files; the
	// whitelist put before each -i refuses both, whatever the caller says.
	for _, second := range []string{"http://127.0.0.1:9/x.mp4", "concat:" + good + "|" + good} {
		err := b.r.Run(b.ctx, []string{"-i", good, "-protocol_whitelist", "file,http,tcp,concat", "-i", second,
			"-f", "null", "-"}, RunOptions{})
		var ee *ExecError
		require.ErrorAs(t, err, &ee, second)
		require.Contains(t, ee.StderrTail, "not on whitelist 'file'", second)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	var tb tailBuffer
	for i := range 5000 {
		fmt.Fprintf(&tb, "[h264 @ 0x55d0c0a1b2c0] line %d\x1b[0m\r\n", i)
	}
	_, _ = tb.Write([]byte("bad utf-8: \xff\xfe end\n"))
	got := tb.String()
	lines := strings.Split(got, "\n")
	require.Len(t, lines, tailLines)
	require.LessOrEqual(t, len(got), tailBytes)
	require.Equal(t, "[h264] line 4999[0m", lines[len(lines)-2], "pointer and escape byte removed")
	require.Equal(t, "bad utf-8: ? end", lines[len(lines)-1])

	long := cleanLines(strings.Repeat("é", 3000))
	require.Len(t, long, 1)
	require.LessOrEqual(t, len(tailOf(long)), tailBytes)
}

func TestExecErrorMessages(t *testing.T) {
	t.Parallel()
	require.Equal(t, "ffprobe failed with exit code 1: moov atom not found; Invalid data found when processing input",
		(&ExecError{Tool: "ffprobe", ExitCode: 1, StderrTail: "moov atom not found\nInvalid data found when processing input"}).Error())
	require.Equal(t, "ffmpeg was killed (signal: killed)",
		(&ExecError{Tool: "ffmpeg", ExitCode: -1, Err: errors.New("signal: killed")}).Error())
}
