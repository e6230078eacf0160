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
	// MIX_BENCH_PART_SECONDS: run each length in parts of this many
	// seconds (RenderPart each, then MergeParts) instead of whole.
	partSec, _ := strconv.Atoi(os.Getenv("MIX_BENCH_PART_SECONDS"))
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

			in := mix.Input{Original: src, OriginalType: "video/mp4", Probed: &info, HasVideo: true,
				Clips: clips, Captions: srt, Language: "es", Out: out}
			if partSec > 0 {
				benchParts(ctx, b, r, in, d, partSec, dir)
				_ = os.Remove(src)
				return
			}
			var before syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &before)
			b.ResetTimer()
			start := time.Now()
			res, err := mix.Mix(ctx, r, in, media.RunOptions{})
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

// childCPU is the CPU time of the finished child processes so far.
func childCPU() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// benchParts mixes in as the mix step does in parts of partSec: each part
// one after the other (on Lambda they run side by side), then the merge.
// Reported: the slowest part's and the merge's CPU and wall time.
func benchParts(ctx context.Context, b *testing.B, r *media.Runner, in mix.Input, d time.Duration, partSec int, dir string) {
	b.Helper()
	step := time.Duration(partSec) * time.Second
	var parts []string
	var loud []mix.Loudness
	var slowCPU, slowWall time.Duration
	for n, from := 0, time.Duration(0); from < d; n, from = n+1, from+step {
		out := filepath.Join(dir, fmt.Sprintf("part-%04d.wav", n))
		c0, w0 := childCPU(), time.Now()
		l, err := mix.RenderPart(ctx, r, in, from, min(from+step, d), out, media.RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		slowCPU, slowWall = max(slowCPU, childCPU()-c0), max(slowWall, time.Since(w0))
		parts, loud = append(parts, out), append(loud, l)
	}
	c0, w0 := childCPU(), time.Now()
	res, err := mix.MergeParts(ctx, r, in, parts, loud, media.RunOptions{})
	if err != nil {
		b.Fatal(err)
	}
	mergeCPU, mergeWall := childCPU()-c0, time.Since(w0)
	b.ReportMetric(float64(len(parts)), "parts")
	b.ReportMetric(slowCPU.Seconds(), "part-cpu-s")
	b.ReportMetric(slowWall.Seconds(), "part-wall-s")
	b.ReportMetric(mergeCPU.Seconds(), "merge-cpu-s")
	b.ReportMetric(mergeWall.Seconds(), "merge-wall-s")
	b.Logf("%s in %d parts of %d s: slowest part cpu %s wall %s; merge cpu %s wall %s; output %.0f s", d, len(parts), partSec,
		slowCPU.Round(time.Millisecond), slowWall.Round(time.Millisecond), mergeCPU.Round(time.Millisecond),
		mergeWall.Round(time.Millisecond), res.Duration)
	for _, p := range parts {
		_ = os.Remove(p)
	}
	_ = os.Remove(in.Out)
}
