package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redub/redub/shared/config"
)

// Timeouts of the steps of Probe.
const (
	probeTimeout    = 10 * time.Second // ffprobe reads headers only
	decodeTimeout   = 30 * time.Second // two one-second windows, a long GOP may need more decoding
	durationTimeout = 60 * time.Second // reads every packet of a file whose header has no duration
)

// Probe limits for ffprobe: bytes read and media time analysed to find the
// streams (FFmpeg's own defaults, made explicit).
const (
	probeSize       = "5000000"
	analyzeDuration = "5000000" // microseconds
)

// Limits are what Probe accepts. Zero fields take the defaults.
type Limits struct {
	MaxDuration time.Duration // default 4h (config.MaxMediaDuration)
	MinDuration time.Duration // default 0.1s
	MaxWidth    int           // default 4096
	MaxHeight   int           // default 4096
	MaxPixels   int           // width*height, default 4096*2304
	MaxStreams  int           // default 8
}

// DefaultLimits returns the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxDuration: config.MaxMediaDuration,
		MinDuration: 100 * time.Millisecond,
		MaxWidth:    4096,
		MaxHeight:   4096,
		MaxPixels:   4096 * 2304,
		MaxStreams:  8,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDuration <= 0 {
		l.MaxDuration = d.MaxDuration
	}
	if l.MinDuration <= 0 {
		l.MinDuration = d.MinDuration
	}
	if l.MaxWidth <= 0 {
		l.MaxWidth = d.MaxWidth
	}
	if l.MaxHeight <= 0 {
		l.MaxHeight = d.MaxHeight
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = d.MaxPixels
	}
	if l.MaxStreams <= 0 {
		l.MaxStreams = d.MaxStreams
	}
	return l
}

// Info is what Probe learned about a file. It is stored as the asset's
// probe JSON and shown to its owner, so it holds nothing from the file's
// metadata tags (titles, GPS positions...).
type Info struct {
	Format     string        `json:"format"`      // FFmpeg's format names, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	FormatName string        `json:"format_name"` // e.g. "QuickTime / MOV"
	Duration   time.Duration `json:"-"`           // in JSON as "duration" in seconds
	SizeBytes  int64         `json:"size_bytes"`
	Bitrate    int64         `json:"bitrate"` // bits per second, over the whole file
	Video      *VideoStream  `json:"video,omitempty"`
	Audio      *AudioStream  `json:"audio,omitempty"`
	Streams    int           `json:"streams"` // every stream in the file, including data and cover art
}

// VideoStream is the first video stream (cover art does not count).
type VideoStream struct {
	Index    int     `json:"index"` // the stream's index in the file (-map 0:<index>)
	Codec    string  `json:"codec"`
	Width    int     `json:"width"`
	Height   int     `json:"height"`
	FPS      float64 `json:"fps"`
	Rotation int     `json:"rotation,omitempty"` // degrees, from the display matrix; FFmpeg applies it when transcoding
}

// AudioStream is the first audio stream.
type AudioStream struct {
	Index      int    `json:"index"`
	Codec      string `json:"codec"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

type infoJSON struct {
	plainInfo
	Duration float64 `json:"duration"`
}

type plainInfo Info

// MarshalJSON writes the duration in seconds.
func (i Info) MarshalJSON() ([]byte, error) {
	return json.Marshal(infoJSON{plainInfo(i), i.Duration.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (i *Info) UnmarshalJSON(b []byte) error {
	var v infoJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*i = Info(v.plainInfo)
	i.Duration = time.Duration(v.Duration * float64(time.Second))
	return nil
}

// RejectError says why an upload is refused. Reason is a sentence for the
// uploader; Err, when set, is the underlying failure, for logs.
type RejectError struct {
	Reason string
	Err    error
}

// Error returns the reason.
func (e *RejectError) Error() string { return "media rejected: " + e.Reason }

// Unwrap returns the underlying failure.
func (e *RejectError) Unwrap() error { return e.Err }

// Probe inspects an untrusted file that was uploaded as contentType.
//
// The file is read only with the demuxer that the content type maps to
// (forced with -f, never guessed from the content) and with
// -protocol_whitelist file, so a playlist, a concat script or anything else
// that names other files is refused instead of followed. Probe first checks
// the file's signature, then runs ffprobe (10 s timeout), checks the limits,
// and finally decodes one second at the start and one at the end of the
// file to catch a sound header in front of missing or garbage data.
//
// A file that is not media of the declared kind, is truncated or corrupt,
// has no audio or video, or breaks a limit gives a *RejectError whose
// Reason can be shown to the uploader. Other errors (ffprobe missing, the
// context canceled, ...) are the system's, not the file's.
func (r *Runner) Probe(ctx context.Context, path, contentType string, limits Limits) (Info, error) {
	limits = limits.withDefaults()
	f, err := lookupFormat(contentType)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Info{}, fmt.Errorf("probe: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("probe %s: not a regular file", path)
	}
	if fi.Size() == 0 {
		return Info{}, &RejectError{Reason: "the file is empty"}
	}
	ok, err := sniff(path, f.demuxer)
	if err != nil {
		return Info{}, fmt.Errorf("probe: %w", err)
	}
	if !ok {
		return Info{}, &RejectError{Reason: fmt.Sprintf("the file is not a valid %s", f.name)}
	}

	out, err := r.ffprobe(ctx, f.input(path), probeTimeout, "-show_entries", probeEntries)
	if err != nil {
		var ee *ExecError
		if !errors.As(err, &ee) {
			return Info{}, fmt.Errorf("probe: %w", err)
		}
		if ee.TimedOut {
			return Info{}, &RejectError{Reason: fmt.Sprintf("the file could not be read within %s; it may be damaged", ee.Timeout), Err: err}
		}
		if reason := notWhitelisted(ee.StderrTail); reason != "" {
			return Info{}, &RejectError{Reason: reason, Err: err}
		}
		what := "the file is truncated or corrupt"
		if f.demuxer == "mp3" || f.demuxer == "aac" || f.demuxer == "mpeg" { // no signature check ran
			what = fmt.Sprintf("the file is not a valid %s", f.name)
		}
		return Info{}, &RejectError{Reason: fmt.Sprintf("%s (ffprobe: %s)", what, firstError(ee.StderrTail, path)), Err: err}
	}
	info, err := parseProbe(out)
	if err != nil {
		// ffprobe exited 0: the output is cut short (limitedWriter) only for
		// a file with an absurd number of streams.
		return Info{}, &RejectError{Reason: "the file's structure could not be read; it may be damaged", Err: err}
	}
	if err := checkCodecs(info.streams); err != nil {
		return Info{}, err
	}
	if info.SizeBytes == 0 {
		info.SizeBytes = fi.Size()
	}
	if err := info.check(limits, f); err != nil {
		return Info{}, err
	}
	if info.Duration <= 0 {
		d, err := r.measureDuration(ctx, path, f, info, limits.MaxDuration)
		if err != nil {
			return Info{}, err
		}
		if d > limits.MaxDuration { // the measure stops just past the limit
			return Info{}, &RejectError{Reason: fmt.Sprintf("the %s is longer than %s, the limit", info.kind(), showDuration(limits.MaxDuration))}
		}
		info.Duration = d
	}
	if err := info.checkDuration(limits); err != nil {
		return Info{}, err
	}
	if err := r.decodeCheck(ctx, path, f, info, limits); err != nil {
		return Info{}, err
	}
	return info.Info, nil
}

// ffprobe runs ffprobe on one input (its arguments ending in -i and the
// file) and returns its JSON output.
func (r *Runner) ffprobe(ctx context.Context, input []string, timeout time.Duration, show ...string) ([]byte, error) {
	args := []string{"-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file",
		"-probesize", probeSize, "-analyzeduration", analyzeDuration}
	args = append(args, show...)
	args = append(args, "-of", "json")
	args = append(args, input...)
	var stdout bytes.Buffer
	if _, err := r.exec(ctx, "ffprobe", r.FFprobe, args, &limitedWriter{w: &stdout, n: 1 << 20}, timeout, nil); err != nil {
		return nil, err
	}
	return stdout.Bytes(), nil
}

// probeEntries is what Probe asks ffprobe for: -show_format -show_streams
// without the metadata tags, which are large, untrusted and not needed.
const probeEntries = "format=format_name,format_long_name,duration,size,bit_rate" +
	":stream=index,codec_type,codec_name,width,height,coded_width,coded_height,avg_frame_rate,r_frame_rate,sample_rate,channels,duration" +
	":stream_disposition=attached_pic:stream_side_data=rotation"

// fileURL names a local file for FFmpeg with the file: protocol, so no
// part of the name is taken for another protocol or an option.
func fileURL(path string) string { return "file:" + path }

type probeJSON struct {
	Format struct {
		FormatName     string `json:"format_name"`
		FormatLongName string `json:"format_long_name"`
		Duration       string `json:"duration"`
		Size           string `json:"size"`
		BitRate        string `json:"bit_rate"`
	} `json:"format"`
	Streams []probeStream `json:"streams"`
}

type probeStream struct {
	Index        int    `json:"index"`
	CodecType    string `json:"codec_type"`
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	CodedWidth   int    `json:"coded_width"`
	CodedHeight  int    `json:"coded_height"`
	AvgFrameRate string `json:"avg_frame_rate"`
	RFrameRate   string `json:"r_frame_rate"`
	SampleRate   string `json:"sample_rate"`
	Channels     int    `json:"channels"`
	Duration     string `json:"duration"`
	Disposition  struct {
		AttachedPic int `json:"attached_pic"`
	} `json:"disposition"`
	SideDataList []struct {
		Rotation *float64 `json:"rotation"`
	} `json:"side_data_list"`
}

// coverArt reports whether the stream is a picture attached to the file
// (album art in an MP3 or M4A), not video.
func (s probeStream) coverArt() bool { return s.Disposition.AttachedPic != 0 }

// probeInfo is Info plus what the checks need and Info does not keep.
type probeInfo struct {
	Info
	videos  []probeStream // every real video stream
	streams []probeStream // every stream
}

func parseProbe(out []byte) (probeInfo, error) {
	var p probeJSON
	if err := json.Unmarshal(out, &p); err != nil {
		return probeInfo{}, fmt.Errorf("decode ffprobe output: %w", err)
	}
	info := probeInfo{Info: Info{
		Format:     p.Format.FormatName,
		FormatName: p.Format.FormatLongName,
		Duration:   parseSeconds(p.Format.Duration),
		SizeBytes:  parseInt(p.Format.Size),
		Bitrate:    parseInt(p.Format.BitRate),
		Streams:    len(p.Streams),
	}, streams: p.Streams}
	var longest time.Duration
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			if s.coverArt() {
				continue
			}
			info.videos = append(info.videos, s)
			if info.Video == nil {
				fps := parseRate(s.AvgFrameRate)
				if fps == 0 {
					fps = parseRate(s.RFrameRate)
				}
				info.Video = &VideoStream{Index: s.Index, Codec: s.CodecName, Width: s.Width, Height: s.Height, FPS: fps}
				for _, sd := range s.SideDataList {
					if sd.Rotation != nil {
						info.Video.Rotation = int(*sd.Rotation)
					}
				}
			}
		case "audio":
			if info.Audio == nil {
				info.Audio = &AudioStream{Index: s.Index, Codec: s.CodecName, SampleRate: int(parseInt(s.SampleRate)), Channels: s.Channels}
			}
		default:
			continue
		}
		longest = max(longest, parseSeconds(s.Duration))
	}
	if info.Duration <= 0 {
		info.Duration = longest
	}
	return info, nil
}

// check applies the limits that do not depend on the duration.
func (p probeInfo) check(l Limits, f format) error {
	if p.Video == nil && p.Audio == nil {
		return &RejectError{Reason: fmt.Sprintf("the file has no audio or video stream; it is not a valid %s", f.name)}
	}
	if p.Streams > l.MaxStreams {
		return &RejectError{Reason: fmt.Sprintf("the file has %d streams; the limit is %d", p.Streams, l.MaxStreams)}
	}
	for _, v := range p.videos {
		// The coded size is what the decoder allocates; a stream may crop a
		// huge coded picture to a small one, so both are checked (the coded
		// size gets room for the usual 16- or 64-pixel alignment).
		if v.Width <= 0 || v.Height <= 0 {
			return &RejectError{Reason: "the video's picture size is missing; the file is corrupt"}
		}
		if v.Width > l.MaxWidth || v.Height > l.MaxHeight || v.CodedWidth > l.MaxWidth+64 || v.CodedHeight > l.MaxHeight+64 {
			return &RejectError{Reason: fmt.Sprintf("the video is %dx%d; the limit is %dx%d",
				max(v.Width, v.CodedWidth), max(v.Height, v.CodedHeight), l.MaxWidth, l.MaxHeight)}
		}
		if v.Width*v.Height > l.MaxPixels {
			return &RejectError{Reason: fmt.Sprintf("the video is %dx%d (%.1f megapixels); the limit is %.1f megapixels",
				v.Width, v.Height, float64(v.Width*v.Height)/1e6, float64(l.MaxPixels)/1e6)}
		}
	}
	return nil
}

// kind is "video" or "audio", for reasons.
func (p probeInfo) kind() string {
	if p.Video != nil {
		return "video"
	}
	return "audio"
}

func (p probeInfo) checkDuration(l Limits) error {
	kind := p.kind()
	switch {
	case p.Duration > l.MaxDuration:
		return &RejectError{Reason: fmt.Sprintf("the %s is %s long; the limit is %s", kind, showDuration(p.Duration), showDuration(l.MaxDuration))}
	case p.Duration < l.MinDuration:
		return &RejectError{Reason: fmt.Sprintf("the %s is %s long; the minimum is %s", kind, showDuration(p.Duration), showDuration(l.MinDuration))}
	}
	return nil
}

// showDuration rounds a duration for people: whole seconds from a minute
// up, hundredths below.
func showDuration(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

// measureDuration finds the duration of a file whose header has none (a
// WebM recorded by a browser's MediaRecorder, for one) by reading every
// packet without decoding, stopping just past the duration limit.
func (r *Runner) measureDuration(ctx context.Context, path string, f format, info probeInfo, limit time.Duration) (time.Duration, error) {
	args := f.input(path)
	args = append(args, streamMaps(0, info.Info)...)
	args = append(args, "-c", "copy", "-t", seconds(limit+time.Second), "-f", "null", "-")
	p := newProgressParser(0, nil)
	_, err := r.exec(ctx, "ffmpeg", r.FFmpeg, ffmpegArgs(args), p, durationTimeout, nil)
	if err != nil {
		var ee *ExecError
		if errors.As(err, &ee) {
			return 0, &RejectError{Reason: fmt.Sprintf("the file's duration could not be determined (%s)", firstError(ee.StderrTail, path)), Err: err}
		}
		return 0, fmt.Errorf("measure duration: %w", err)
	}
	d, _ := p.position()
	return d, nil
}

// streamMaps maps the probed video and audio streams of input n.
func streamMaps(n int, info Info) []string {
	var maps []string
	if info.Video != nil {
		maps = append(maps, "-map", fmt.Sprintf("%d:%d", n, info.Video.Index))
	}
	if info.Audio != nil {
		maps = append(maps, "-map", fmt.Sprintf("%d:%d", n, info.Audio.Index))
	}
	return maps
}

// Decode check tuning.
const (
	decodeWindow = time.Second
	// maxDecodeErrors is how many "Error while decoding" lines the check
	// lets pass: a damaged frame or two at a cut point is common in real
	// files; garbage data fails every frame.
	maxDecodeErrors = 2
)

// truncationSigns are FFmpeg messages that mean the file ends before its
// header says it does.
var truncationSigns = []string{"partial file", "ended prematurely", "corrupt input packet", "truncat", "end of file"}

// decodeCheck decodes the first second and the last second of the probed
// streams. ffprobe reads headers; this catches a valid header in front of
// missing (truncated) or garbage data.
func (r *Runner) decodeCheck(ctx context.Context, path string, f format, info probeInfo, l Limits) error {
	maxPixels := strconv.Itoa(l.MaxPixels)
	window := seconds(decodeWindow)
	args := append([]string{"-max_pixels", maxPixels, "-t", window}, f.input(path)...)
	tail := info.Duration > 2*decodeWindow
	if tail {
		args = append(args, "-ss", seconds(info.Duration-decodeWindow), "-t", window, "-max_pixels", maxPixels)
		args = append(args, f.input(path)...)
	}
	args = append(args, streamMaps(0, info.Info)...)
	args = append(args, "-f", "null", "-")
	if tail {
		args = append(args, streamMaps(1, info.Info)...)
		args = append(args, "-f", "null", "-")
	}
	stderr, err := r.exec(ctx, "ffmpeg", r.FFmpeg, ffmpegArgs(args), nil, decodeTimeout, nil)
	if err != nil {
		// stderr holds more than the tail: its first lines are the cause.
		var ee *ExecError
		if !errors.As(err, &ee) {
			return fmt.Errorf("decode check: %w", err)
		}
		if ee.TimedOut {
			return &RejectError{Reason: fmt.Sprintf("the file could not be decoded within %s; it may be damaged", ee.Timeout), Err: err}
		}
		return &RejectError{Reason: fmt.Sprintf("the file is truncated or corrupt (ffmpeg: %s)", firstError(stderr, path)), Err: err}
	}
	decodeErrors := 0
	for l := range strings.SplitSeq(stderr, "\n") {
		low := strings.ToLower(l)
		for _, sign := range truncationSigns {
			if strings.Contains(low, sign) {
				return &RejectError{Reason: fmt.Sprintf("the file is truncated or corrupt (ffmpeg: %s)", cleanMessage(l, path))}
			}
		}
		// An MPEG program stream's seek lands inside an audio frame, and the
		// MP2/MP3 decoder then fails a dozen frames ("Header missing") of a
		// sound file: the tail window (input 1) of that demuxer is judged by
		// the truncation signs alone.
		if strings.HasPrefix(l, "Error while decoding") && (f.demuxer != "mpeg" || !strings.Contains(l, "stream #1:")) {
			decodeErrors++
		}
	}
	if decodeErrors > maxDecodeErrors {
		return &RejectError{Reason: fmt.Sprintf("the file is corrupt (ffmpeg: %s)", firstError(stderr, path))}
	}
	return nil
}

// Duration returns the duration of a file this system produced (a
// rendition, a synthesized voice track): ffprobe with the file protocol
// only and a 10 s timeout, the format guessed from the content.
func (r *Runner) Duration(ctx context.Context, path string) (time.Duration, error) {
	out, err := r.ffprobe(ctx, []string{"-i", fileURL(path)}, probeTimeout, "-show_entries", "format=duration")
	if err != nil {
		return 0, fmt.Errorf("duration of %s: %w", path, err)
	}
	var p probeJSON
	if err := json.Unmarshal(out, &p); err != nil {
		return 0, fmt.Errorf("duration of %s: decode ffprobe output: %w", path, err)
	}
	d := parseSeconds(p.Format.Duration)
	if d <= 0 {
		return 0, fmt.Errorf("duration of %s: ffprobe reports none", path)
	}
	return d, nil
}

// notAllowed matches FFmpeg's refusal of a decoder or demuxer that its
// whitelist does not name.
var notAllowed = regexp.MustCompile(`(Codec \(([^)]*)\)|Format) not on whitelist`)

// notWhitelisted turns FFmpeg's whitelist refusal in stderr into a reason,
// or returns "" when there is none.
func notWhitelisted(stderr string) string {
	m := notAllowed.FindStringSubmatch(stderr)
	switch {
	case m == nil:
		return ""
	case m[2] != "":
		return fmt.Sprintf("the file uses the %s codec, which is not supported; "+
			"use H.264, HEVC, AV1, VP8, VP9, MPEG-4 or Theora video and AAC, MP3, Opus, Vorbis, FLAC or PCM audio", truncate(m[2], 40))
	}
	return "the file holds a format that is not supported inside its container"
}

// streamPrefix matches FFmpeg's "[mov,mp4,m4a] " context prefix.
var streamPrefix = regexp.MustCompile(`^(\[[^\]]*\]\s*)+`)

// firstError returns the first line of an FFmpeg error output, cleaned up:
// the first line is the cause, the last ones are usually the generic
// "Invalid data found when processing input".
func firstError(stderr, path string) string {
	for l := range strings.SplitSeq(stderr, "\n") {
		if m := cleanMessage(l, path); m != "" {
			return m
		}
	}
	return "no error message"
}

// cleanMessage drops the context prefix and the input's name from one line.
func cleanMessage(line, path string) string {
	line = streamPrefix.ReplaceAllString(line, "")
	line = strings.ReplaceAll(line, fileURL(path)+": ", "")
	line = strings.ReplaceAll(line, path+": ", "")
	line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "."))
	return truncate(line, 200)
}

func parseSeconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 1e7 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func parseInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// parseRate reads "30000/1001".
func parseRate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return 0
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || d <= 0 || n <= 0 {
		return 0
	}
	// A hostile header may claim 1e308/1e-308: +Inf cannot be stored as
	// JSON (the asset's probe data), so it counts as no rate.
	if r := n / d; !math.IsInf(r, 0) {
		return r
	}
	return 0
}

// seconds formats a duration for FFmpeg's -t and -ss.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// limitedWriter keeps at most n bytes and drops the rest: ffprobe's output
// for a hostile file with thousands of streams must not grow without bound.
type limitedWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int
}

func (l *limitedWriter) Write(b []byte) (int, error) {
	if l.n > 0 {
		k := min(len(b), l.n)
		if _, err := l.w.Write(b[:k]); err != nil {
			return 0, err
		}
		l.n -= k
	}
	return len(b), nil
}
