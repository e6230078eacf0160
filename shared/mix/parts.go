package mix

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/redub/redub/shared/media"
)

// partHeadroom scales a part's track before it is stored as 16-bit PCM, so
// a mix louder than full scale is not clipped; the merge's one gain makes
// up for it.
const partHeadroom = 0.5

// blockSamples is the 100 ms step of BS.1770's gating blocks (400 ms
// blocks, overlapping by 75 %).
const blockSamples = sampleRate / 10

// Loudness is what a part measured of its track, for the merge's one gain.
type Loudness struct {
	// Blocks are the K-weighted mean squares, summed over both channels,
	// of the track's consecutive 100 ms: the merge joins them across the
	// parts into BS.1770's gated 400 ms blocks.
	Blocks []float64 `json:"blocks"`
	Peak   float64   `json:"peak"` // the largest sample, linear (1 is full scale)
}

// RenderPart renders the dub track of [from, to) of the media as Mix would
// before its loudness normalization: the original (or Input.Speech) read
// over the range only and ducked, the clips that overlap the range placed
// and cut at its edges. out is a 48 kHz stereo 16-bit PCM WAV of exactly
// the range's samples, at partHeadroom; the Loudness measured from it goes
// to MergeParts.
func RenderPart(ctx context.Context, r *media.Runner, in Input, from, to time.Duration, out string, opts media.RunOptions) (Loudness, error) {
	if from < 0 || to <= from {
		return Loudness{}, fmt.Errorf("mix part: range %v-%v is empty", from, to)
	}
	p, err := prepare(ctx, r, in, true)
	if err != nil {
		return Loudness{}, err
	}
	fromS := int64(math.Round(from.Seconds() * sampleRate))
	toS := int64(math.Round(to.Seconds() * sampleRate))
	secs := func(n int64) string { return num(float64(n)/sampleRate, 6) }
	args, inputs, g := p.background([]string{"-ss", secs(fromS), "-t", secs(toS - fromS)})
	g.part = toS - fromS
	g.duration = float64(g.part) / sampleRate
	off := float64(fromS) / sampleRate
	g.duck = nil
	for _, s := range p.duck {
		if s.to+rampSec > off && s.from-rampSec < float64(toS)/sampleRate {
			g.duck = append(g.duck, span{s.from - off, s.to - off})
		}
	}
	if g.duck == nil {
		g.duck = []span{}
	}
	var clips []placed
	for _, c := range p.clips {
		if c.start >= toS || c.start+c.length <= fromS {
			continue
		}
		if c.start >= fromS {
			c.start -= fromS
		} else {
			c.skip = fromS - c.start
			c.length -= c.skip
			c.start = 0
		}
		clips = append(clips, c)
	}
	dir := filepath.Dir(out)
	tracks, cleanup, err := premix(ctx, r, dir, clips, opts)
	defer cleanup()
	if err != nil {
		return Loudness{}, fmt.Errorf("mix part: %w", err)
	}
	for _, c := range tracks {
		args = append(args, clipInput(c.path)...)
		c.input = inputs
		inputs++
		g.clips = append(g.clips, c)
	}
	script, err := writeScript(dir, g.build())
	if err != nil {
		return Loudness{}, fmt.Errorf("mix part: %w", err)
	}
	defer os.Remove(script)
	args = append(args, "-filter_complex_script", fileURL(script), "-map", "[aout]", "-c:a", "pcm_s16le",
		"-map_metadata", "-1", "-f", "wav", "-y", fileURL(out))
	if opts.Duration == 0 {
		opts.Duration = to - from
	}
	if err := r.Run(ctx, args, opts); err != nil {
		return Loudness{}, fmt.Errorf("mix part: %w", err)
	}
	l, err := measure(out)
	if err != nil {
		return Loudness{}, fmt.Errorf("mix part: measure loudness: %w", err)
	}
	return l, nil
}

// MergeParts writes in.Out as Mix does, from the parts' tracks in order
// (RenderPart over consecutive ranges that cover the media): they are
// joined sample for sample (the concat demuxer over PCM, so no encoder
// priming at the joins), brought to in.TargetLUFS by one gain computed from
// all the parts' measurements, held under -1.5 dBFS by a limiter, encoded
// to AAC once and muxed with the video and captions.
func MergeParts(ctx context.Context, r *media.Runner, in Input, parts []string, loud []Loudness, opts media.RunOptions) (Result, error) {
	if len(parts) == 0 || len(parts) != len(loud) {
		return Result{}, fmt.Errorf("mix merge: %d parts, %d measurements", len(parts), len(loud))
	}
	p, err := prepare(ctx, r, in, false)
	if err != nil {
		return Result{}, err
	}
	var list strings.Builder
	list.WriteString("ffconcat version 1.0\n")
	for _, path := range parts {
		abs, err := filepath.Abs(path)
		if err != nil {
			return Result{}, fmt.Errorf("mix merge: %w", err)
		}
		fmt.Fprintf(&list, "file 'file:%s'\n", strings.ReplaceAll(abs, "'", `'\''`))
	}
	listPath, err := writeScript(filepath.Dir(p.in.Out), list.String())
	if err != nil {
		return Result{}, fmt.Errorf("mix merge: %w", err)
	}
	defer os.Remove(listPath)
	args := append(slices.Clone(p.original), "-f", "concat", "-safe", "0", "-i", fileURL(listPath))
	gain := mergeGain(loud, p.in.TargetLUFS)
	graph := fmt.Sprintf("[1:a:0]volume=%s,alimiter=limit=%s:level=0:latency=1,%s[aout]\n",
		num(gain, 6), num(math.Pow(10, -1.5/20), 4), format)
	res, err := p.encode(ctx, r, args, 2, graph, opts)
	res.Tempos = p.tempos
	return res, err
}

// mergeGain is the linear gain that brings the joined parts to target
// LUFS: BS.1770 integrated loudness over the 400 ms blocks made of the
// parts' 100 ms ones, gated at -70 LUFS and 10 LU under the ungated mean.
// A silent track keeps its level (gain 1/partHeadroom).
func mergeGain(loud []Loudness, target float64) float64 {
	var sub []float64
	for _, l := range loud {
		sub = append(sub, l.Blocks...)
	}
	var blocks []float64
	for i := 0; i+4 <= len(sub); i++ {
		blocks = append(blocks, (sub[i]+sub[i+1]+sub[i+2]+sub[i+3])/4)
	}
	lufs := func(ms float64) float64 { return -0.691 + 10*math.Log10(ms) }
	gated := func(threshold float64) (float64, int) {
		var sum float64
		n := 0
		for _, b := range blocks {
			if b > 0 && lufs(b) > threshold {
				sum += b
				n++
			}
		}
		return sum, n
	}
	sum, n := gated(-70)
	if n == 0 {
		return 1 / partHeadroom
	}
	sum, n = gated(lufs(sum/float64(n)) - 10)
	integrated := lufs(sum / float64(n))
	return math.Pow(10, min(target-integrated, 40)/20)
}

// measure reads a RenderPart WAV (48 kHz stereo s16) and returns its
// K-weighted 100 ms mean squares and its peak.
func measure(path string) (Loudness, error) {
	f, err := os.Open(path)
	if err != nil {
		return Loudness{}, err
	}
	defer f.Close()
	data, err := wavData(f)
	if err != nil {
		return Loudness{}, err
	}
	var k [2]kWeight
	var l Loudness
	buf := make([]byte, blockSamples*4)
	for {
		n, err := io.ReadFull(data, buf)
		if n >= 4 {
			var sum float64
			frames := n / 4
			for i := range frames {
				for ch := range 2 {
					v := float64(int16(binary.LittleEndian.Uint16(buf[i*4+ch*2:]))) / 32768 //nolint:gosec // a 16-bit sample, two's complement
					l.Peak = max(l.Peak, math.Abs(v))
					y := k[ch].filter(v)
					sum += y * y
				}
			}
			l.Blocks = append(l.Blocks, sum/float64(frames))
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return l, nil
		}
		if err != nil {
			return Loudness{}, err
		}
	}
}

// wavData skips a WAV's header to its data chunk.
func wavData(r io.Reader) (io.Reader, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil || string(riff[:4]) != "RIFF" || string(riff[8:]) != "WAVE" {
		return nil, errors.New("not a WAV file")
	}
	for {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, errors.New("WAV file without data")
		}
		size := int64(binary.LittleEndian.Uint32(h[4:]))
		if string(h[:4]) == "data" {
			return io.LimitReader(r, size), nil
		}
		if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
			return nil, errors.New("WAV file without data")
		}
	}
}

// kWeight is BS.1770's K-weighting at 48 kHz: a high shelf, then a high
// pass, as two biquads.
type kWeight struct{ s1, s2 [2]float64 }

func (k *kWeight) filter(x float64) float64 {
	// Direct form II transposed.
	y1 := 1.53512485958697*x + k.s1[0]
	k.s1[0] = -2.69169618940638*x - -1.69065929318241*y1 + k.s1[1]
	k.s1[1] = 1.19839281085285*x - 0.73248077421585*y1
	y2 := y1 + k.s2[0]
	k.s2[0] = -2*y1 - -1.99004745483398*y2 + k.s2[1]
	k.s2[1] = y1 - 0.99007225036621*y2
	return y2
}
