package media

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTranscode measures what Runner adds to the heaviest FFmpeg run
// of the pipeline: the MP4 leg of Transcode on 60 s of 1280x720, through
// Run (progress parsing, cancel polling, whitelist, process group) against
// the same command started directly with os/exec. The two alternate within
// each iteration so that machine noise hits both. Reported: the ratio of
// the totals (runner/direct), of the best runs (-best) and of the CPU time
// used (-cpu), the steadiest on a shared machine. One iteration takes
// ~20 s on 2 cores: run it with the default -benchtime (one iteration) or
// -benchtime 1x..3x; larger counts are skipped.
func BenchmarkTranscode(b *testing.B) {
	if b.N > 10 {
		b.Skipf("b.N=%d: each iteration transcodes 2 minutes of 720p; use -benchtime 1x..3x", b.N)
	}
	r, err := NewRunner(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	in := filepath.Join(dir, "in.mp4")
	gen := exec.Command(r.FFmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30",
		"-f", "lavfi", "-i", "sine=f=440:r=48000", "-t", "60", "-c:v", "libx264", "-preset", "ultrafast",
		"-c:a", "aac", "-movflags", "+faststart", "-y", in)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("generate sample: %v: %s", err, out)
	}
	info, err := r.Probe(ctx, in, "video/mp4", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	args := mp4Args(in, formats["video/mp4"], info, filepath.Join(dir, "out.mp4"))
	direct := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error"}, args...)

	// Wall time is what a step pays; CPU time (FFmpeg's plus this
	// process's) is what tells the overhead apart on a busy machine.
	var viaRunner, viaExec, cpuRunner, cpuExec time.Duration
	minRunner, minExec := time.Duration(1<<62), time.Duration(1<<62)
	b.ResetTimer()
	runner := func() {
		start, cpu := time.Now(), cpuTime()
		defer func() { cpuRunner += cpuTime() - cpu }()
		err := r.Run(ctx, args, RunOptions{
			Duration:   info.Duration,
			OnProgress: func(float64) {},
			Cancel:     func() bool { return false },
		})
		took := time.Since(start)
		viaRunner += took
		minRunner = min(minRunner, took)
		b.Logf("runner %s", took)
		if err != nil {
			b.Fatal(err)
		}
	}
	plain := func() {
		start, cpu := time.Now(), cpuTime()
		defer func() { cpuExec += cpuTime() - cpu }()
		if out, err := exec.Command(r.FFmpeg, direct...).CombinedOutput(); err != nil {
			b.Fatalf("direct: %v: %s", err, out)
		}
		took := time.Since(start)
		viaExec += took
		minExec = min(minExec, took)
		b.Logf("direct %s", took)
	}
	for i := 0; i < b.N; i++ {
		if i%2 == 0 { // alternate the order too
			runner()
			plain()
		} else {
			plain()
			runner()
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(viaRunner.Seconds()/n, "runner-s/op")
	b.ReportMetric(viaExec.Seconds()/n, "direct-s/op")
	b.ReportMetric(viaRunner.Seconds()/viaExec.Seconds(), "runner/direct")
	b.ReportMetric(minRunner.Seconds()/minExec.Seconds(), "runner/direct-best")
	b.ReportMetric(cpuRunner.Seconds()/cpuExec.Seconds(), "runner/direct-cpu")
	b.ReportMetric(info.Duration.Seconds()*n/viaRunner.Seconds(), "x-realtime")
}

// BenchmarkTranscodeStep is the whole Transcode step (MP4, poster, WAV) on
// 20 s of 1280x720.
func BenchmarkTranscodeStep(b *testing.B) {
	if b.N > 10 {
		b.Skipf("b.N=%d: use -benchtime 1x..3x", b.N)
	}
	r, err := NewRunner(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	in := filepath.Join(dir, "in.mp4")
	gen := exec.Command(r.FFmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30",
		"-f", "lavfi", "-i", "sine=f=440:r=48000", "-t", "20", "-c:v", "libx264", "-preset", "ultrafast",
		"-c:a", "aac", "-y", in)
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("generate sample: %v: %s", err, out)
	}
	start := time.Now()
	info, err := r.Probe(ctx, in, "video/mp4", Limits{})
	if err != nil {
		b.Fatal(err)
	}
	probe := time.Since(start)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Transcode(ctx, in, "video/mp4", info, filepath.Join(dir, "out"), RunOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(probe.Seconds(), "probe-s") // after ResetTimer, which drops metrics
}

// cpuTime is the CPU time used so far by this process and its waited-for
// children.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}
