// Package syncmark measures audio/video sync in tests: it makes a source
// with a white flash and a beep together at fixed times, and finds both in
// a file made from it, so a test can tell how far picture and sound drifted
// apart (at the boundaries of a video transcoded in parts, for one). It runs
// ffmpeg directly, not through the code under test.
package syncmark

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Source writes an MP4 (H.264 at 25 frames a second, AAC) of size (e.g.
// "320x180") lasting d, whose picture is a test pattern with one white
// frame and whose sound is silence with a 40 ms 1 kHz beep, both every
// `every` from 0 on.
func Source(ctx context.Context, ffmpeg, out, size string, d, every time.Duration) error {
	e := strconv.FormatFloat(every.Seconds(), 'f', 3, 64)
	video := fmt.Sprintf("testsrc=size=%s:rate=25,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t\\,%s)\\,0.039)'", size, e)
	audio := fmt.Sprintf("aevalsrc='if(lt(mod(t\\,%s)\\,0.04)\\,0.8*sin(2*PI*1000*t)\\,0)':s=48000:c=mono", e)
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
		"-t", strconv.FormatFloat(d.Seconds(), 'f', 3, 64), "-c:v", "libx264", "-preset", "ultrafast", "-g", "250", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "64k", "-f", "mp4", out}
	if msg, err := exec.CommandContext(ctx, ffmpeg, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("make sync source: %w: %s", err, msg)
	}
	return nil
}

// Flashes returns the start times of the white flashes in the first video
// stream of path (a frame whose mean luma is near white, after one that is
// not).
func Flashes(ctx context.Context, ffmpeg, path string) ([]time.Duration, error) {
	cmd := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:v:0",
		"-vf", "signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-", "-f", "null", "-")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("find flashes in %s: %w", path, err)
	}
	var flashes []time.Duration
	var pts float64
	lit := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "pts_time:"); i >= 0 {
			pts, _ = strconv.ParseFloat(strings.Fields(line[i+len("pts_time:"):])[0], 64)
			continue
		}
		if v, ok := strings.CutPrefix(line, "lavfi.signalstats.YAVG="); ok {
			y, _ := strconv.ParseFloat(v, 64)
			now := y > 200
			if now && !lit {
				flashes = append(flashes, time.Duration(pts*float64(time.Second)))
			}
			lit = now
		}
	}
	return flashes, sc.Err()
}

// beepRate is the sample rate the sound is decoded at to find beeps.
const beepRate = 16000

// Beeps returns the start times of the beeps in the first audio stream of
// path: the first sample above a third of the loudest, after at least half
// a second of quiet.
func Beeps(ctx context.Context, ffmpeg, path string) ([]time.Duration, error) {
	cmd := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-map", "0:a:0",
		"-ac", "1", "-ar", strconv.Itoa(beepRate), "-f", "s16le", "-")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("find beeps in %s: %w", path, err)
	}
	samples := make([]int16, len(out)/2)
	if err := binary.Read(bytes.NewReader(out[:len(samples)*2]), binary.LittleEndian, samples); err != nil {
		return nil, fmt.Errorf("find beeps in %s: %w", path, err)
	}
	peak := 0.0
	for _, s := range samples {
		peak = math.Max(peak, math.Abs(float64(s)))
	}
	threshold, quiet := peak/3, beepRate/2
	var beeps []time.Duration
	last := -quiet
	for i, s := range samples {
		if math.Abs(float64(s)) < threshold {
			continue
		}
		if i-last >= quiet {
			beeps = append(beeps, time.Duration(i)*time.Second/beepRate)
		}
		last = i
	}
	return beeps, nil
}

// Drift is the flash time less the beep time of the mark nearest to at;
// ok is false when either is missing within half a second of at.
func Drift(flashes, beeps []time.Duration, at time.Duration) (time.Duration, bool) {
	f, okF := nearest(flashes, at)
	b, okB := nearest(beeps, at)
	return f - b, okF && okB
}

func nearest(ts []time.Duration, at time.Duration) (time.Duration, bool) {
	best, found := time.Duration(0), false
	for _, t := range ts {
		if d := (t - at).Abs(); d <= 500*time.Millisecond && (!found || d < (best-at).Abs()) {
			best, found = t, true
		}
	}
	return best, found
}
