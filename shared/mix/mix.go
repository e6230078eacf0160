package mix

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/media"
)

// Defaults for the zero fields of Input.
const (
	DefaultMaxTempo   = 1.25
	DefaultDuckDB     = -18.0
	DefaultTargetLUFS = -16.0
)

// Clip is one synthesized sentence and the slot it replaces.
type Clip struct {
	Start, End float64 // the segment's slot in the original timeline, seconds
	Path       string  // synthesized speech (mp3 or wav)
	Duration   float64 // of the clip, seconds; 0: Mix probes it
}

// Input is what Mix mixes. Zero MaxTempo, DuckDB and TargetLUFS take the
// defaults.
type Input struct {
	Original     string // the original media file (video or audio-only), already verified
	OriginalType string // the content type recorded for it at ingest: how it is read (media.InputArgs)
	// Probed is what media.Probe found in the original (the asset's probe
	// data); nil: Mix probes it.
	Probed   *media.Info
	HasVideo bool
	// Picture is optional: an MP4 made by this system from the original
	// (the transcode rendition, H.264) whose video is copied into the
	// output when the original's own video cannot be (media.CopiesIntoMP4).
	// Without it such video is encoded again (media.VideoArgs).
	Picture  string
	Speech   string // optional: a 16 kHz WAV of the original speech, used instead of the original's audio track
	Clips    []Clip
	Captions string // an SRT file to mux as a subtitle track; "" for none
	Language string // ISO 639 code ("en", "pt-BR", "por") for the audio and subtitle tracks; "" is undetermined
	Out      string // the output: .mp4 when HasVideo, else .m4a

	// MaxTempo bounds the speed-up that fits a clip into its slot (1 to 4,
	// default 1.25). A clip still too long is cut at the slot's end with a
	// 50 ms fade-out; a shorter one plays as is, with silence after it.
	MaxTempo float64
	// DuckDB is how much the original audio is lowered during the clips'
	// slots, keeping music and ambience under the new voice (<= 0 dB,
	// default -18).
	DuckDB float64
	// TargetLUFS is the integrated loudness of the output (-70 to -5,
	// default -16), with a true peak of at most -1.5 dBTP.
	TargetLUFS float64
}

// Result describes the mixed file.
type Result struct {
	Out      string
	Duration float64   // seconds, as probed from the output
	Tempos   []float64 // per clip, in Input.Clips order: 1 when played as is
}

// Mix writes in.Out in one FFmpeg run; the package documentation describes
// the filter graph. Clip durations that are zero are probed first; so is the
// original unless in.Probed is given, to learn its length, its streams and
// whether it has sound (a silent video gets a silent background).
//
// The original is an upload: it is read only as media.InputArgs reads its
// recorded content type, never guessed from its name or bytes. Its video is
// copied when its codec plays in MP4 (media.CopiesIntoMP4); otherwise the
// video of in.Picture is copied, or without one the original's is encoded
// as the MP4 rendition is (media.VideoArgs).
//
// The output is written next to in.Out and renamed into place only when
// FFmpeg succeeds, so in.Out is never left half-written. opts.Duration
// defaults to the original's length, for progress.
//
// Mix returns an error for invalid input (before running anything), an
// unreadable SRT, or a failed probe or FFmpeg run, wrapping the media
// package's errors (*media.ExecError, media.ErrCanceled).
func Mix(ctx context.Context, r *media.Runner, in Input, opts media.RunOptions) (Result, error) {
	p, err := prepare(ctx, r, in, false)
	if err != nil {
		return Result{}, err
	}
	args, inputs, g := p.background(nil)
	dir := filepath.Dir(p.in.Out)
	tracks, cleanup, err := premix(ctx, r, dir, p.clips, opts)
	defer cleanup()
	if err != nil {
		return Result{}, fmt.Errorf("mix: %w", err)
	}
	for _, c := range tracks {
		args = append(args, clipInput(c.path)...)
		c.input = inputs
		inputs++
		g.clips = append(g.clips, c)
	}
	res, err := p.encode(ctx, r, args, inputs, g.build(), opts)
	res.Tempos = p.tempos
	return res, err
}

// prepared is an Input checked, its original probed and its clips placed.
type prepared struct {
	in        Input
	info      *media.Info
	original  []string // the original's input arguments
	subtitles bool
	clips     []placed // in Input.Clips order
	tempos    []float64
	duck      []span
}

// prepare checks in, probes what Mix must know and places the clips. A
// part (RenderPart) has no in.Out.
func prepare(ctx context.Context, r *media.Runner, in Input, part bool) (prepared, error) {
	in, err := in.withDefaults(part)
	if err != nil {
		return prepared{}, fmt.Errorf("mix: %w", err)
	}
	p := prepared{in: in}
	// The original: its length (progress, silent background), its streams
	// and whether its video can be copied.
	if p.original, err = media.InputArgs(in.Original, in.OriginalType); err != nil {
		return prepared{}, fmt.Errorf("mix: read original: %w", err)
	}
	p.info = in.Probed
	if p.info == nil {
		probed, err := r.Probe(ctx, in.Original, in.OriginalType, media.Limits{})
		if err != nil {
			return prepared{}, fmt.Errorf("mix: probe original: %w", err)
		}
		p.info = &probed
	}
	if in.HasVideo && p.info.Video == nil {
		return prepared{}, errors.New("mix: the original has no video stream")
	}
	if p.subtitles, err = hasCues(in.Captions); err != nil {
		return prepared{}, fmt.Errorf("mix: %w", err)
	}
	p.tempos = make([]float64, len(in.Clips))
	for i, c := range in.Clips {
		d := c.Duration
		if d == 0 {
			pd, err := r.Duration(ctx, c.Path)
			if err != nil {
				return prepared{}, fmt.Errorf("mix: clip %d: %w", i, err)
			}
			d = pd.Seconds()
		}
		pc := place(c, d, in.MaxTempo)
		p.clips = append(p.clips, pc)
		p.tempos[i] = pc.tempo
	}
	p.duck = duckSpans(p.clips)
	if p.duck == nil {
		p.duck = []span{}
	}
	return p, nil
}

// background starts the arguments and the graph: input 0 the original,
// then the speech WAV when there is one. seek, when given, reads only
// that range of them (-ss, -t): a part's.
func (p prepared) background(seek []string) (args []string, inputs int, g graph) {
	withSeek := func(in []string) []string {
		n := len(in) - 2 // ... -i url
		return append(append(slices.Clone(in[:n]), seek...), in[n:]...)
	}
	args = withSeek(p.original)
	inputs = 1
	g = graph{duration: p.info.Duration.Seconds(), gain: math.Pow(10, p.in.DuckDB/20), targetLUFS: p.in.TargetLUFS, duck: p.duck}
	switch {
	case p.in.Speech != "":
		args = append(args, withSeek([]string{"-f", "wav", "-i", fileURL(p.in.Speech)})...)
		g.background = "1:a:0"
		inputs++
	case p.info.Audio != nil:
		g.background = fmt.Sprintf("0:%d", p.info.Audio.Index)
	}
	return args, inputs, g
}

// encode runs the final FFmpeg process: args are the inputs so far (0 the
// original), graph's [aout] becomes the AAC track, the video is copied (or
// taken from Input.Picture, or encoded), the captions muxed, and the
// output renamed into place.
func (p prepared) encode(ctx context.Context, r *media.Runner, args []string, inputs int, graph string, opts media.RunOptions) (Result, error) {
	in, info := p.in, p.info
	dir := filepath.Dir(in.Out)
	script, err := writeScript(dir, graph)
	if err != nil {
		return Result{}, fmt.Errorf("mix: %w", err)
	}
	defer os.Remove(script)

	// The picture: the original's video, or the rendition's.
	var video []string
	if in.HasVideo {
		switch {
		case media.CopiesIntoMP4(info.Video.Codec):
			video = []string{"-map", fmt.Sprintf("0:%d", info.Video.Index), "-c:v", "copy"}
		case in.Picture != "":
			args = append(args, "-f", "mp4", "-i", fileURL(in.Picture))
			video = []string{"-map", fmt.Sprintf("%d:v:0", inputs), "-c:v", "copy"}
			inputs++
		default:
			video = append([]string{"-map", fmt.Sprintf("0:%d", info.Video.Index)}, media.VideoArgs()...)
		}
	}

	lang := trackLanguage(in.Language)
	subtitleInput := inputs
	if p.subtitles {
		args = append(args, "-f", "srt", "-i", fileURL(in.Captions))
	}
	args = append(args, "-filter_complex_script", fileURL(script))
	muxer, ext := "ipod", ".m4a"
	if in.HasVideo {
		muxer, ext = "mp4", ".mp4"
		args = append(args, video...)
	}
	args = append(args, "-map", "[aout]", "-c:a", "aac", "-b:a", "128k",
		"-metadata:s:a:0", "language="+lang)
	if p.subtitles {
		args = append(args, "-map", fmt.Sprintf("%d:0", subtitleInput), "-c:s", "mov_text",
			"-metadata:s:s:0", "language="+lang)
	}
	tmp, err := os.CreateTemp(dir, ".mix-*"+ext)
	if err != nil {
		return Result{}, fmt.Errorf("mix: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1", "-movflags", "+faststart",
		"-f", muxer, "-y", fileURL(tmp.Name()))

	if opts.Duration == 0 {
		opts.Duration = info.Duration
	}
	if err := r.Run(ctx, args, opts); err != nil {
		return Result{}, fmt.Errorf("mix: %w", err)
	}
	if err := os.Rename(tmp.Name(), in.Out); err != nil {
		return Result{}, fmt.Errorf("mix: %w", err)
	}
	outDur, err := r.Duration(ctx, in.Out)
	if err != nil {
		return Result{}, fmt.Errorf("mix: probe output: %w", err)
	}
	return Result{Out: in.Out, Duration: outDur.Seconds()}, nil
}

// place lays out a clip of duration d (seconds) in its slot.
func place(c Clip, d, maxTempo float64) placed {
	slot := c.End - c.Start
	tempo, trim := fit(d, slot, maxTempo)
	p := placed{path: c.Path, tempo: tempo, slotStart: c.Start, slotEnd: c.End,
		start: int64(math.Round(c.Start * sampleRate))}
	if trim {
		p.trimSec = slot
		p.length = int64(math.Round(slot * sampleRate))
	} else {
		p.length = int64(math.Round(d * sampleRate))
	}
	return p
}

// MaxClipInputs bounds the clips one FFmpeg process opens. Each input is
// a file descriptor and a demuxer thread, and Lambda allows a process
// 1,024 descriptors; more clips than this are first mixed in batches of
// this many into PCM tracks (premix).
var MaxClipInputs = 64

// premix returns clips when there are at most MaxClipInputs of them. More
// are mixed, in start order, in batches of MaxClipInputs into 48 kHz stereo
// PCM WAV tracks, each spanning its clips (plus 20 ms for decoders that
// yield a little more than probed), and those tracks stand in for them,
// batched again if there are still too many. The tracks play as is
// (tempo 1), so the voice is placed sample-exactly where the clips would
// have been. cleanup removes the tracks.
func premix(ctx context.Context, r *media.Runner, dir string, clips []placed, opts media.RunOptions) (_ []placed, cleanup func(), _ error) {
	var files []string
	cleanup = func() {
		for _, f := range files {
			os.Remove(f)
		}
	}
	bound := max(MaxClipInputs, 2)
	batchOpts := media.RunOptions{Timeout: opts.Timeout, Cancel: opts.Cancel}
	for len(clips) > bound {
		order := slices.Clone(clips)
		slices.SortStableFunc(order, func(a, b placed) int { return cmp.Compare(a.start, b.start) })
		var tracks []placed
		for batch := range slices.Chunk(order, bound) {
			t, err := renderBatch(ctx, r, dir, batch, batchOpts)
			if t.path != "" {
				files = append(files, t.path)
			}
			if err != nil {
				return nil, cleanup, err
			}
			tracks = append(tracks, t)
		}
		clips = tracks
	}
	return clips, cleanup, nil
}

// renderBatch mixes clips (sorted by start) into one PCM WAV track.
func renderBatch(ctx context.Context, r *media.Runner, dir string, clips []placed, opts media.RunOptions) (placed, error) {
	base := clips[0].start
	var end int64
	local := make([]placed, len(clips))
	var args []string
	for i, c := range clips {
		end = max(end, c.start+c.length)
		c.start -= base
		c.input = i
		local[i] = c
		args = append(args, clipInput(c.path)...)
	}
	length := end - base + sampleRate/50
	f, err := os.CreateTemp(dir, ".mix-batch-*.wav")
	if err != nil {
		return placed{}, fmt.Errorf("premix: %w", err)
	}
	f.Close()
	t := placed{path: f.Name(), start: base, length: length, tempo: 1,
		slotStart: float64(base) / sampleRate, slotEnd: float64(base+length) / sampleRate}
	script, err := writeScript(dir, batchGraph(local, length))
	if err != nil {
		return t, fmt.Errorf("premix: %w", err)
	}
	defer os.Remove(script)
	args = append(args, "-filter_complex_script", fileURL(script), "-map", "[aout]",
		"-c:a", "pcm_s16le", "-map_metadata", "-1", "-f", "wav", "-y", fileURL(t.path))
	if err := r.Run(ctx, args, opts); err != nil {
		return t, fmt.Errorf("premix %d clips from %.3f s: %w", len(clips), t.slotStart, err)
	}
	return t, nil
}

// writeScript writes a filter graph next to the output and returns its path.
func writeScript(dir, graph string) (string, error) {
	f, err := os.CreateTemp(dir, ".mix-*.graph")
	if err != nil {
		return "", fmt.Errorf("write filter graph: %w", err)
	}
	if _, err := f.WriteString(graph); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("write filter graph: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write filter graph: %w", err)
	}
	return f.Name(), nil
}

// withDefaults fills in zero fields and checks the rest.
func (in Input) withDefaults(part bool) (Input, error) {
	if in.MaxTempo == 0 {
		in.MaxTempo = DefaultMaxTempo
	}
	if in.DuckDB == 0 {
		in.DuckDB = DefaultDuckDB
	}
	if in.TargetLUFS == 0 {
		in.TargetLUFS = DefaultTargetLUFS
	}
	var errs []error
	if in.Original == "" {
		errs = append(errs, errors.New("no original"))
	}
	if in.OriginalType == "" {
		errs = append(errs, errors.New("no content type for the original"))
	}
	want := ".m4a"
	if in.HasVideo {
		want = ".mp4"
	}
	if !part && !strings.EqualFold(filepath.Ext(in.Out), want) {
		errs = append(errs, fmt.Errorf("output %q: want a %s file", in.Out, want))
	}
	if !(in.MaxTempo >= 1 && in.MaxTempo <= 4) {
		errs = append(errs, fmt.Errorf("max tempo %v: want 1 to 4", in.MaxTempo))
	}
	if !(in.DuckDB <= 0 && in.DuckDB >= -100) {
		errs = append(errs, fmt.Errorf("duck %v dB: want -100 to 0", in.DuckDB))
	}
	if !(in.TargetLUFS >= -70 && in.TargetLUFS <= -5) {
		errs = append(errs, fmt.Errorf("target loudness %v LUFS: want -70 to -5", in.TargetLUFS))
	}
	for i, c := range in.Clips {
		switch {
		case c.Path == "":
			errs = append(errs, fmt.Errorf("clip %d: no path", i))
		case !(c.Start >= 0 && c.End > c.Start && !math.IsInf(c.End, 0)):
			errs = append(errs, fmt.Errorf("clip %d: slot %v-%v s is empty or negative", i, c.Start, c.End))
		case !(c.Duration >= 0 && !math.IsInf(c.Duration, 0)):
			errs = append(errs, fmt.Errorf("clip %d: duration %v s", i, c.Duration))
		}
	}
	return in, errors.Join(errs...)
}

// hasCues reports whether the SRT at path holds a cue: FFmpeg cannot read
// an SRT without one, and a silent video has no captions to show.
func hasCues(path string) (bool, error) {
	if path == "" {
		return false, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read captions: %w", err)
	}
	segs, err := captions.ParseSRT(data)
	if err != nil {
		return false, fmt.Errorf("read captions %s: %w", path, err)
	}
	return len(segs) > 0, nil
}

// clipInput reads a synthesized clip, with its demuxer forced when its
// extension names one.
func clipInput(path string) []string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mp3":
		return []string{"-f", "mp3", "-i", fileURL(path)}
	case ".wav":
		return []string{"-f", "wav", "-i", fileURL(path)}
	}
	return []string{"-i", fileURL(path)}
}

// fileURL names a local file for FFmpeg with the file: protocol, so no part
// of the name is taken for another protocol or an option.
func fileURL(path string) string { return "file:" + path }
