package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Rendition settings.
const (
	maxLongSide  = 1280 // 720p: the picture fits in 1280x720 (or 720x1280 upright)
	maxShortSide = 720
	posterWidth  = 1280
	speechRate   = 16000 // Hz, what speech-to-text wants
	audioBitrate = "128k"
	maxFPS       = "60"
)

// Names of the files Transcode writes in its output directory.
const (
	MP4Name    = "video.mp4"
	PosterName = "poster.jpg"
	WAVName    = "speech.wav"
	M4AName    = "audio.m4a"
)

// Renditions are the paths of the files Transcode made; "" when not made.
type Renditions struct {
	MP4    string `json:"mp4,omitempty"`    // H.264 + AAC, at most 720p, moov first (+faststart)
	Poster string `json:"poster,omitempty"` // JPEG, a frame at 10% of the duration, at most 1280 wide
	WAV    string `json:"wav,omitempty"`    // 16 kHz mono 16-bit PCM, for speech-to-text
	M4A    string `json:"m4a,omitempty"`    // AAC in MP4, for audio-only inputs
}

// leg is one FFmpeg run of Transcode.
type leg struct {
	name   string
	weight float64 // share of the step's progress, the legs sum to 1
	args   []string
	out    string
}

// Transcode makes the renditions of an upload that Probe accepted (info is
// what it returned; it may have been stored as JSON and read back). Video
// gets an MP4 (H.264 + AAC, at most 720p, keeping the aspect ratio with even
// dimensions), a poster JPEG and, when it has sound, a speech WAV. Audio gets
// the speech WAV and an M4A (AAC). Files go to outDir under MP4Name,
// PosterName, WAVName and M4AName.
//
// The input is read as Probe read it: the demuxer forced from contentType,
// files only. Metadata (titles, GPS positions) is not copied. Each output
// stops a little past the probed duration, so a file that lied about its
// length cannot keep FFmpeg busy. opts.Timeout bounds the whole step
// (all legs together); progress and the cancel check cover the whole step.
// A failure of a leg is returned wrapped (an *ExecError, ErrCanceled, ...).
func (r *Runner) Transcode(ctx context.Context, in, contentType string, info Info, outDir string, opts RunOptions) (Renditions, error) {
	f, err := lookupFormat(contentType)
	if err != nil {
		return Renditions{}, fmt.Errorf("transcode: %w", err)
	}
	if info.Video == nil && info.Audio == nil {
		return Renditions{}, errors.New("transcode: the probe found no audio or video stream")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Renditions{}, fmt.Errorf("transcode: %w", err)
	}

	var rend Renditions
	var legs []leg
	if info.Video != nil {
		rend.MP4 = filepath.Join(outDir, MP4Name)
		rend.Poster = filepath.Join(outDir, PosterName)
		wMP4, wWAV := 0.95, 0.04
		if info.Audio == nil {
			wMP4, wWAV = 0.99, 0
		}
		legs = append(legs,
			leg{"mp4", wMP4, mp4Args(in, f, info, rend.MP4), rend.MP4},
			leg{"poster", 0.01, posterArgs(in, f, info, posterTime(info.Duration), rend.Poster), rend.Poster})
		if info.Audio != nil {
			rend.WAV = filepath.Join(outDir, WAVName)
			legs = append(legs, leg{"wav", wWAV, wavArgs(in, f, info, rend.WAV), rend.WAV})
		}
	} else {
		rend.WAV = filepath.Join(outDir, WAVName)
		rend.M4A = filepath.Join(outDir, M4AName)
		legs = append(legs,
			leg{"wav", 0.2, wavArgs(in, f, info, rend.WAV), rend.WAV},
			leg{"m4a", 0.8, m4aArgs(in, f, info, rend.M4A), rend.M4A})
	}

	if err := r.runLegs(ctx, legs, in, f, info, opts); err != nil {
		return Renditions{}, err
	}
	return rend, nil
}

// runLegs runs Transcode's legs in turn within one budget (opts.Timeout),
// with the progress of all of them as one.
func (r *Runner) runLegs(ctx context.Context, legs []leg, in string, f format, info Info, opts RunOptions) error {
	total := opts.Timeout
	if total <= 0 {
		total = r.DefaultTimeout
	}
	if total <= 0 {
		total = fallbackTimeout
	}
	deadline := time.Now().Add(total)
	report := opts.OnProgress
	if report != nil {
		var mu sync.Mutex
		last := -1.0
		report = func(p float64) { // forward only increases: legs start where the last one ended
			mu.Lock()
			defer mu.Unlock()
			if p > last {
				last = p
				opts.OnProgress(p)
			}
		}
	}
	done := 0.0
	for _, l := range legs {
		if opts.Cancel != nil && opts.Cancel() {
			return fmt.Errorf("transcode %s: %w", l.name, ErrCanceled)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("transcode %s: %w", l.name, &ExecError{Tool: "ffmpeg", ExitCode: -1, TimedOut: true, Timeout: total, Err: context.DeadlineExceeded})
		}
		lo := RunOptions{Timeout: left, Duration: info.Duration, Cancel: opts.Cancel}
		if report != nil {
			base, w := done, l.weight
			lo.OnProgress = func(p float64) { report(min(100, base+p*w)) }
		}
		err := r.Run(ctx, l.args, lo)
		if err == nil && l.name == "poster" && !nonEmpty(l.out) {
			// The seek went past the last frame (a duration that was a bit
			// long): take the first frame instead.
			err = r.Run(ctx, posterArgs(in, f, info, 0, l.out), lo)
		}
		if err != nil {
			return fmt.Errorf("transcode %s: %w", l.name, err)
		}
		if !nonEmpty(l.out) {
			return fmt.Errorf("transcode %s: ffmpeg wrote no %s", l.name, filepath.Base(l.out))
		}
		done += l.weight * 100
	}
	return nil
}

// ExtractWAV writes the first audio stream of in, declared as contentType
// (an upload's recorded type, or the type of a rendition), as a 16 kHz mono
// WAV, the format speech-to-text wants. The file is read as InputArgs reads
// it. Errors are as Run's; an unknown content type is a *RejectError.
func (r *Runner) ExtractWAV(ctx context.Context, in, contentType, out string, opts RunOptions) error {
	input, err := InputArgs(in, contentType)
	if err != nil {
		return fmt.Errorf("extract wav: %w", err)
	}
	args := slices.Concat(input, []string{"-map", "0:a:0", "-vn"}, speechWAV(out))
	if err := r.Run(ctx, args, opts); err != nil {
		return fmt.Errorf("extract wav: %w", err)
	}
	return nil
}

// input returns the arguments that read an upload: a cap on the picture
// size the decoder accepts, then InputArgs's.
func input(in string, f format, info Info) []string {
	pixels := DefaultLimits().MaxPixels
	if info.Video != nil {
		pixels = max(pixels, info.Video.Width*info.Video.Height)
	}
	return append([]string{"-max_pixels", strconv.Itoa(pixels)}, f.input(in)...)
}

// common are the output options of every rendition: no metadata from the
// upload, no chapters, no subtitle or data streams, a cap on the length.
func common(info Info) []string {
	args := []string{"-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn"}
	if info.Duration > 0 {
		args = append(args, "-t", seconds(lengthCap(info.Duration)))
	}
	return args
}

// lengthCap is how much output a rendition may have: the probed duration
// plus some slack, as durations in headers are estimates.
func lengthCap(d time.Duration) time.Duration {
	return d + max(10*time.Second, d/10)
}

// scale720 fits the picture in 1280x720 (720x1280 when upright) without
// upscaling, keeps the aspect ratio and makes both sides even. It runs
// after FFmpeg's automatic rotation, so iw and ih are the displayed sides.
var scale720 = fmt.Sprintf("scale=w='if(gte(iw,ih),min(%[1]d,iw),min(%[2]d,iw))':h='if(gte(iw,ih),min(%[2]d,ih),min(%[1]d,ih))'"+
	":force_original_aspect_ratio=decrease:force_divisible_by=2,format=yuv420p", maxLongSide, maxShortSide)

// VideoArgs are the output options of the H.264 video we serve: at most
// 720p (see scale720), at most 60 frames a second, yuv420p. Mix uses them
// for a video whose codec cannot be copied into MP4.
func VideoArgs() []string {
	return []string{"-vf", scale720, "-fpsmax", maxFPS, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"}
}

func mp4Args(in string, f format, info Info, out string) []string {
	args := input(in, f, info)
	args = append(args, streamMaps(0, info)...)
	args = append(args, VideoArgs()...)
	if info.Audio != nil {
		args = append(args, audioAAC(info)...)
	}
	args = append(args, common(info)...)
	return append(args, "-movflags", "+faststart", "-f", "mp4", "-y", fileURL(out))
}

func posterArgs(in string, f format, info Info, at time.Duration, out string) []string {
	args := []string{"-ss", seconds(at)}
	args = append(args, input(in, f, info)...)
	args = append(args, "-map", fmt.Sprintf("0:%d", info.Video.Index), "-frames:v", "1",
		"-vf", fmt.Sprintf("scale=w='min(%d,iw)':h=-2", posterWidth), "-q:v", "3")
	args = append(args, common(Info{})...)
	return append(args, "-f", "image2", "-update", "1", "-y", fileURL(out))
}

// posterTime is 10% into the media.
func posterTime(d time.Duration) time.Duration {
	return (d / 10).Truncate(time.Millisecond)
}

func wavArgs(in string, f format, info Info, out string) []string {
	args := input(in, f, info)
	args = append(args, "-map", fmt.Sprintf("0:%d", info.Audio.Index), "-vn")
	args = append(args, common(info)...)
	return append(args, speechWAV(out)...)
}

// speechWAV are the output options of a 16 kHz mono 16-bit WAV. The
// bitexact flags leave out the encoder tag, so the header is the plain
// 44 bytes.
func speechWAV(out string) []string {
	return []string{"-ac", "1", "-ar", strconv.Itoa(speechRate), "-c:a", "pcm_s16le",
		"-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "wav", "-y", fileURL(out)}
}

func m4aArgs(in string, f format, info Info, out string) []string {
	args := input(in, f, info)
	args = append(args, "-map", fmt.Sprintf("0:%d", info.Audio.Index), "-vn")
	args = append(args, audioAAC(info)...)
	args = append(args, common(info)...)
	return append(args, "-movflags", "+faststart", "-f", "ipod", "-y", fileURL(out))
}

// audioAAC encodes stereo (or mono) AAC; more channels are downmixed.
func audioAAC(info Info) []string {
	args := []string{"-c:a", "aac", "-b:a", audioBitrate}
	if info.Audio.Channels > 2 {
		args = append(args, "-ac", "2")
	}
	if info.Audio.SampleRate > 48000 {
		args = append(args, "-ar", "48000")
	}
	return args
}

func nonEmpty(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0
}
