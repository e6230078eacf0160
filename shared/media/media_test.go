package media

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bundle is what every test gets: a Runner on the machine's FFmpeg and a
// directory of its own for samples and outputs.
type bundle struct {
	r   *Runner
	dir string
	ctx context.Context
}

func setup(t *testing.T) bundle {
	t.Helper()
	r, err := NewRunner(os.Getenv)
	require.NoError(t, err, "the media tests need ffmpeg and ffprobe: `make deps` or apt-get install ffmpeg")
	return bundle{r: r, dir: t.TempDir(), ctx: t.Context()}
}

// gen makes a sample with ffmpeg run directly (not through the code under
// test) and returns its path.
func (b bundle) gen(t *testing.T, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(b.dir, name)
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	full = append(full, out)
	cmd := exec.Command(b.r.FFmpeg, full...)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "generate %s: %s", name, msg)
	return out
}

// write puts a file in the test's directory.
func (b bundle) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(b.dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p
}

// Samples. Each is tiny: the whole package runs in well under a minute.

func (b bundle) mp4(t *testing.T, name, size string, d time.Duration, extra ...string) string {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", "testsrc2=s=" + size + ":r=25", "-f", "lavfi", "-i", "sine=f=440:r=48000",
		"-t", seconds(d), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"}
	return b.gen(t, name, append(args, extra...)...)
}

func (b bundle) audio(t *testing.T, name string, d time.Duration, codec ...string) string {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", "sine=f=440:r=44100", "-t", seconds(d)}
	return b.gen(t, name, append(args, codec...)...)
}

// probed is ffprobe's own view of a file, for checking outputs.
type probed struct {
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		SampleRate string `json:"sample_rate"`
		Channels   int    `json:"channels"`
		PixFmt     string `json:"pix_fmt"`
	} `json:"streams"`
}

func (p probed) duration(t *testing.T) time.Duration {
	t.Helper()
	f, err := strconv.ParseFloat(p.Format.Duration, 64)
	require.NoError(t, err)
	return time.Duration(f * float64(time.Second))
}

func (b bundle) ffprobe(t *testing.T, path string) probed {
	t.Helper()
	out, err := exec.Command(b.r.FFprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", path).Output()
	require.NoError(t, err, "ffprobe %s", path)
	var p probed
	require.NoError(t, json.Unmarshal(out, &p))
	return p
}

// requireGone fails when a process whose command line mentions marker is
// still alive: a run must leave nothing behind.
func requireGone(t *testing.T, marker string) {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(procs) == 0 {
		t.Log("no /proc: cannot check for leftover processes")
		return
	}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if strings.Contains(string(b), marker) {
			stat, _ := os.ReadFile(strings.TrimSuffix(p, "cmdline") + "stat")
			t.Fatalf("process still there: %s (%s)", strings.ReplaceAll(string(b), "\x00", " "), stat)
		}
	}
}

func within(t *testing.T, got, want, tolerance time.Duration) {
	t.Helper()
	require.InDelta(t, want.Seconds(), got.Seconds(), tolerance.Seconds(), "got %s, want %s ± %s", got, want, tolerance)
}
