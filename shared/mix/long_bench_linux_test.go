package mix_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/mix"
)

// BenchmarkMixLong measures Mix as the mix step runs it (the original's
// video copied, the clips' lengths given as synthesize records them, the
// clips premixed in batches of 64, the whole filter graph, AAC, +faststart) on long sources, to project its time at the longest
// accepted length (4 h) against the mix function's budget. Each length in
// MIX_BENCH_MINUTES (default 15,30,60) gets a source of 160x90 H.264 at
// 25 fps padded to 1 Mb/s (so 4 h is about the largest upload, 2 GiB) with
// 48 kHz stereo AAC, one clip every 5 s (a 3.5 s or, every third, a 4.6 s
// MP3 for a 4 s slot) and one caption per clip. Reported per length: the
// wall time, the CPU time of the child processes, the largest child's
// resident memory and the clips. docs/benchmarks.md, "Mix at 4 hours".
func BenchmarkMixLong(b *testing.B) {
	if b.N > 1 {
		b.Skipf("b.N=%d: each length runs once; use -benchtime 1x", b.N)
	}
	r, err := media.NewRunner(os.Getenv)
	if err != nil {
		b.Skipf("ffmpeg not available: %v", err)
	}
	lengths := os.Getenv("MIX_BENCH_MINUTES")
	if lengths == "" {
		lengths = "15,30,60"
	}
	dir := b.TempDir()
	ctx := context.Background()
	gen := func(args ...string) {
		b.Helper()
		cmd := exec.CommandContext(ctx, r.FFmpeg, append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}
	short, long := filepath.Join(dir, "short.mp3"), filepath.Join(dir, "long.mp3")
	gen("-f", "lavfi", "-i", "sine=f=300:r=44100", "-t", "3.5", "-c:a", "libmp3lame", "-b:a", "128k", short)
	gen("-f", "lavfi", "-i", "sine=f=500:r=44100", "-t", "4.6", "-c:a", "libmp3lame", "-b:a", "128k", long)
	// The step passes the lengths synthesize measured (clips.json), so Mix
	// probes no clip.
	var shortSec, longSec float64
	for _, c := range []struct {
		path string
		sec  *float64
	}{{short, &shortSec}, {long, &longSec}} {
		d, err := r.Duration(ctx, c.path)
		if err != nil {
			b.Fatal(err)
		}
		*c.sec = d.Seconds()
	}

	for _, s := range strings.Split(lengths, ",") {
		minutes, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || minutes < 1 {
			b.Fatalf("MIX_BENCH_MINUTES: %q is not a whole number of minutes", s)
		}
		b.Run(fmt.Sprintf("%dmin", minutes), func(b *testing.B) {
			d := time.Duration(minutes) * time.Minute
			src := filepath.Join(dir, fmt.Sprintf("original-%d.mp4", minutes))
			gen("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25", "-f", "lavfi", "-i", "anoisesrc=c=pink:a=0.1:r=48000",
				"-t", strconv.Itoa(minutes*60), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "250",
				"-b:v", "1M", "-minrate", "1M", "-maxrate", "1M", "-bufsize", "1M", "-x264-params", "nal-hrd=cbr:force-cfr=1",
				"-ac", "2", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", src)
			info, err := r.Probe(ctx, src, "video/mp4", media.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			var clips []mix.Clip
			var cues []captions.Segment
			for start := 0.5; start+4 <= d.Seconds(); start += 5 {
				path, length := short, shortSec
				if len(clips)%3 == 2 {
					path, length = long, longSec
				}
				clips = append(clips, mix.Clip{Start: start, End: start + 4, Path: path, Duration: length})
				cues = append(cues, captions.Segment{Start: start, End: start + 4, Text: "Una frase de prueba."})
			}
			srt := filepath.Join(dir, fmt.Sprintf("captions-%d.srt", minutes))
			if err := os.WriteFile(srt, captions.SRT(cues), 0o644); err != nil {
				b.Fatal(err)
			}
			out := filepath.Join(dir, fmt.Sprintf("voiceover-%d.mp4", minutes))

			var before syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
			b.ResetTimer()
			start := time.Now()
			res, err := mix.Mix(ctx, r, mix.Input{Original: src, OriginalType: "video/mp4", Probed: &info, HasVideo: true,
				Clips: clips, Captions: srt, Language: "es", Out: out}, media.RunOptions{})
			wall := time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			var after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &after)
			cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
			fi, _ := os.Stat(src)
			b.ReportMetric(wall.Seconds(), "wall-s")
			b.ReportMetric(cpu.Seconds(), "cpu-s")
			b.ReportMetric(float64(after.Maxrss)/1024, "maxrss-MB")
			b.ReportMetric(float64(len(clips)), "clips")
			b.ReportMetric(float64(fi.Size())/(1<<20), "source-MB")
			b.Logf("%d min: wall %s, cpu %s, output %.0f s, %d clips, source %d MB", minutes, wall.Round(time.Millisecond),
				cpu.Round(time.Millisecond), res.Duration, len(clips), fi.Size()>>20)
			_ = os.Remove(src)
			_ = os.Remove(out)
		})
	}
}
