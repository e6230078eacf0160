package media

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkFanOut measures transcoding in parts (segment fan-out, issue 10)
// against one FFmpeg process, on this machine, and feeds the measured rates
// into a model of an hour of 1080p on Lambda.
//
// Measured, in one run (machine noise hits both legs):
//   - whole: Transcode of a 10-minute 1280x720 source, one invocation;
//   - fan-out: the same source as 2 parts encoded at once (2 environments),
//     then JoinParts (concat -c copy, the sound encoded once, poster, WAV).
//
// Reported: the wall-time ratio fan-out/whole and the CPU-time overhead of
// splitting and merging. Then a 30 s 1920x1080 part gives the encode rate
// (CPU seconds per media second) that the Lambda model uses; see
// docs/benchmarks.md for the model's assumptions. One iteration takes
// several minutes on 2 cores: run it with -benchtime 1x (larger counts are
// skipped).
func BenchmarkFanOut(b *testing.B) {
	if b.N > 1 {
		b.Skipf("b.N=%d: one iteration transcodes 10 minutes of 720p twice; use -benchtime 1x", b.N)
	}
	r, err := NewRunner(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	const length = 10 * time.Minute
	in := filepath.Join(dir, "in.mp4")
	generate(b, r, in, "1280x720", length, true)
	info, err := r.Probe(ctx, in, "video/mp4", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	opts := RunOptions{Timeout: time.Hour}
	b.ResetTimer()

	start, cpu := time.Now(), cpuTime()
	whole, err := r.Transcode(ctx, in, "video/mp4", info, filepath.Join(dir, "whole"), opts)
	if err != nil {
		b.Fatal(err)
	}
	wholeWall, wholeCPU := time.Since(start), cpuTime()-cpu

	start, cpu = time.Now(), cpuTime()
	half := length / 2
	parts := []string{filepath.Join(dir, "parts", PartName(1)), filepath.Join(dir, "parts", PartName(2))}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range parts {
		wg.Go(func() {
			l := half
			if i == 1 {
				l = 0 // to the end
			}
			errs[i] = r.TranscodePart(ctx, in, "video/mp4", info, time.Duration(i)*half, l, parts[i], opts)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	partsWall := time.Since(start)
	jstart, jcpu := time.Now(), cpuTime()
	joined, err := r.JoinParts(ctx, parts, in, "video/mp4", info, filepath.Join(dir, "joined"), opts)
	if err != nil {
		b.Fatal(err)
	}
	joinWall, joinCPU := time.Since(jstart), cpuTime()-jcpu
	fanWall, fanCPU := time.Since(start), cpuTime()-cpu
	b.StopTimer()

	b.ReportMetric(fanWall.Seconds()/wholeWall.Seconds(), "wall-ratio")
	b.ReportMetric(100*(fanCPU.Seconds()-wholeCPU.Seconds())/wholeCPU.Seconds(), "cpu-overhead-%")
	b.Logf("10 min 720p: whole %.1f s wall, %.1f s CPU; fan-out 2-way %.1f s wall (parts %.1f + join %.1f), %.1f s CPU (join %.1f)",
		wholeWall.Seconds(), wholeCPU.Seconds(), fanWall.Seconds(), partsWall.Seconds(), joinWall.Seconds(), fanCPU.Seconds(), joinCPU.Seconds())
	b.Logf("outputs: whole %s, joined %s", mib(whole.MP4), mib(joined.MP4))

	// The encode rate of 1080p, for the Lambda model.
	in1080 := filepath.Join(dir, "in1080.mp4")
	const sample = 30 * time.Second
	generate(b, r, in1080, "1920x1080", sample, true)
	info1080, err := r.Probe(ctx, in1080, "video/mp4", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	cpu = cpuTime()
	if err := r.TranscodePart(ctx, in1080, "video/mp4", info1080, 0, sample, filepath.Join(dir, "p1080.mp4"), opts); err != nil {
		b.Fatal(err)
	}
	encode := (cpuTime() - cpu).Seconds() / sample.Seconds()
	out1080 := size(filepath.Join(dir, "p1080.mp4")) / sample.Seconds() // bytes per media second of a part
	join := joinWall.Seconds() / length.Seconds()                       // wall seconds per media second of the join
	b.ReportMetric(encode, "cpu-s/media-s-1080p")
	b.ReportMetric(join, "join-s/media-s")
	b.Logf("1080p part: %.2f CPU s per media s; parts %.0f kB per media s; join %.3f s per media s (wall)", encode, out1080/1e3, join)
	for _, row := range lambdaModel(encode, join, out1080) {
		b.Log(row)
	}
}

// lambdaModel is the wall time and cost of transcoding an hour of 1080p on
// Lambda at several fan-out widths, from this machine's measured rates and
// the assumptions below (also in docs/benchmarks.md).
func lambdaModel(encodeCPUPerS, joinPerS, partBytesPerS float64) []string {
	const (
		hour       = 3600.0
		vcpus      = 3008.0 / 1769 // TranscodeFunction's 3008 MB; Lambda gives one vCPU per 1769 MB
		memGB      = 3008.0 / 1024
		s3MBps     = 90.0  // one function's S3 throughput, MB/s (assumed)
		sourceMB   = 3600. // an hour of 1080p camera footage at 8 Mbit/s
		coldStart  = 1.0   // s: a cold start of the Go function with the FFmpeg layer (assumed)
		sendEach   = 0.015 // s: one SQS SendMessage from the split (assumed)
		x86, arm64 = 0.0000166667, 0.0000133334
		request    = 0.20 / 1e6
	)
	rows := []string{"ways | split s | slowest part s (whole source / its range only) | merge s | wall s (whole / range) | x86_64 $ | arm64 $"}
	for _, n := range []float64{25, 100, 400} {
		split := coldStart + n*sendEach
		span := hour / n
		encode := encodeCPUPerS * span / vcpus
		upload := partBytesPerS * span / 1e6 / s3MBps
		partWhole := coldStart + sourceMB/s3MBps + encode + upload // as built: the part downloads the whole source
		partRange := coldStart + sourceMB/n/s3MBps + encode + upload
		// The merge downloads the parts and the source, joins (its measured
		// rate, scaled to an hour; FFmpeg's AAC and concat are one thread),
		// and uploads the MP4 and the renditions (about the parts' size).
		parts := partBytesPerS * hour / 1e6
		merge := coldStart + (parts+sourceMB)/s3MBps + joinPerS*hour + parts/s3MBps
		wallWhole, wallRange := split+partWhole+merge, split+partRange+merge
		gbs := memGB * (split + n*partWhole + merge)
		rows = append(rows, fmt.Sprintf("%.0f | %.1f | %.0f / %.0f | %.0f | %.0f / %.0f | %.3f | %.3f", n, split, partWhole, partRange, merge,
			wallWhole, wallRange, gbs*x86+(n+2)*request, gbs*arm64+(n+2)*request))
	}
	return rows
}

// generate writes a test source: a moving test card and a tone; with
// noise, per-frame noise on the picture, which is harder to encode than
// camera footage (the encode rate of the Lambda model errs on the slow
// side).
func generate(b *testing.B, r *Runner, out, size string, length time.Duration, noise bool) {
	b.Helper()
	args := []string{"-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=" + size + ":r=30",
		"-f", "lavfi", "-i", "sine=f=440:r=48000"}
	if noise {
		args = append(args, "-vf", "noise=alls=12:allf=t")
	}
	args = append(args, "-t", strconv.FormatFloat(length.Seconds(), 'f', 0, 64),
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-movflags", "+faststart", "-y", out)
	gen := exec.Command(r.FFmpeg, args...)
	if o, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("generate %s: %v: %s", out, err, o)
	}
}

func size(path string) float64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(st.Size())
}

func mib(path string) string { return fmt.Sprintf("%.1f MiB", size(path)/(1<<20)) }
