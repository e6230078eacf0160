package mix

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

const (
	sampleRate = 48000 // every branch of the graph runs at this rate, in stereo
	rampSec    = 0.1   // the ducking envelope's ramps
	fadeSec    = 0.05  // the fade-out of a clip trimmed to its slot
	// duckChunk is how many ducked ranges one leaf of the envelope
	// expression sums; the leaves sit under a binary tree of if(lt(t,..)),
	// so each audio frame evaluates about log2(ranges/8)+8 terms.
	duckChunk = 8
	// frameSamples is the size of the frames the ducking volume filter sees:
	// it evaluates its expression once per frame, so 10 ms frames turn each
	// 100 ms ramp into 10 steps rather than 4 or 5 audible ones.
	frameSamples = sampleRate / 100
)

// placed is a clip as the graph lays it out.
type placed struct {
	path      string  // the file it is read from
	input     int     // ffmpeg input index
	skip      int64   // samples cut from its head: it began before the part
	start     int64   // first sample on the output timeline
	length    int64   // samples it lasts: its slot when fitted, else its own duration
	tempo     float64 // 1 when the clip plays as is
	trimSec   float64 // > 0: cut to this many seconds, with a fade-out
	slotStart float64 // the slot, seconds
	slotEnd   float64
}

// fit decides how a clip of duration d plays in a slot: the tempo
// (1..maxTempo), and whether it is cut to the slot. Every clip longer than
// its slot is cut, as atempo's output may run a few ms over; the 50 ms
// fade-out that goes with the cut is heard only when the tempo was capped.
func fit(d, slot, maxTempo float64) (tempo float64, trim bool) {
	// Within a millisecond is a fit: a tempo change of 1.0004 does nothing
	// but cost a filter.
	if d <= slot+0.001 {
		return 1, false
	}
	tempo = d / slot
	if tempo > maxTempo {
		return maxTempo, true
	}
	return tempo, true
}

// atempo chains atempo filters, each within FFmpeg 5.1's 0.5..2.0, to reach
// tempo (> 1).
func atempo(tempo float64) []string {
	var out []string
	for tempo > 2 {
		out = append(out, "atempo=2")
		tempo /= 2
	}
	return append(out, "atempo="+num(tempo, 6))
}

// lanes spreads clips over as few lanes as possible so that the clips of a
// lane never overlap; each lane then becomes one concat of delayed, padded
// clips. Concatenating is linear in the length of the media, where one amix
// of N delayed inputs costs N times the length: 300 clips over ten minutes
// took 31 s through amix and 2 s through concat. A transcript's slots rarely
// overlap, so there is usually one lane, two when a clip runs into the next.
func lanes(clips []placed) [][]placed {
	order := slices.Clone(clips)
	slices.SortStableFunc(order, func(a, b placed) int { return cmp.Compare(a.start, b.start) })
	// A margin for decoders that yield a few ms more than the probe said.
	const margin = sampleRate / 50
	var out [][]placed
	var ends []int64
	for _, c := range order {
		i := slices.IndexFunc(ends, func(end int64) bool { return end+margin <= c.start })
		if i < 0 {
			out = append(out, nil)
			ends = append(ends, 0)
			i = len(out) - 1
		}
		out[i] = append(out[i], c)
		ends[i] = c.start + c.length
	}
	return out
}

// span is a time range of the original to duck, in seconds.
type span struct{ from, to float64 }

// duckSpans merges the clips' slots into the ranges to duck: slots closer
// than two ramps are joined, so the original does not bob up between two
// sentences.
func duckSpans(clips []placed) []span {
	var s []span
	for _, c := range clips {
		s = append(s, span{c.slotStart, max(c.slotEnd, c.slotStart+float64(c.length)/sampleRate)})
	}
	slices.SortFunc(s, func(a, b span) int { return cmp.Compare(a.from, b.from) })
	var out []span
	for _, x := range s {
		if n := len(out); n > 0 && x.from-out[n-1].to < 2*rampSec {
			out[n-1].to = max(out[n-1].to, x.to)
			continue
		}
		out = append(out, x)
	}
	return out
}

// duckExpr is the volume filter expression that lowers the original to gain
// during spans, ramping down over the 100 ms before each and back up over
// the 100 ms after. Each span adds one term,
// clip(min(t-a,b-t)*10,0,1), which is 1 inside the span, 0 outside its
// ramps; spans never share a ramp (see duckSpans), so the sum is at most 1.
//
// The terms cannot simply be added up: FFmpeg 5.1's expression parser
// refuses a sum of more than about 95 of them ("Error when evaluating the
// volume expression"). Hence the tree.
func duckExpr(spans []span, gain float64) string {
	if len(spans) == 0 {
		return "1"
	}
	var chunks [][]span
	for c := range slices.Chunk(spans, duckChunk) {
		chunks = append(chunks, c)
	}
	return "1-" + num(1-gain, 4) + "*(" + duckTree(chunks) + ")"
}

func duckTree(chunks [][]span) string {
	if len(chunks) == 1 {
		terms := make([]string, len(chunks[0]))
		for i, s := range chunks[0] {
			terms[i] = "clip(min(" + minus("t", s.from-rampSec) + "," + num(s.to+rampSec, 3) + "-t)*" +
				num(1/rampSec, 3) + ",0,1)"
		}
		return strings.Join(terms, "+")
	}
	mid := len(chunks) / 2
	// Every span left of mid has ended, ramp included, by the time the
	// first span of the right half starts ramping down.
	split := chunks[mid][0].from - rampSec
	return "if(lt(t," + num(split, 3) + ")," + duckTree(chunks[:mid]) + "," + duckTree(chunks[mid:]) + ")"
}

// minus writes v-x, as v+|x| when x is negative.
func minus(v string, x float64) string {
	if x < 0 {
		return v + "+" + num(-x, 3)
	}
	return v + "-" + num(x, 3)
}

// num formats x with at most prec decimals and no trailing zeros.
func num(x float64, prec int) string {
	s := strconv.FormatFloat(x, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// graph is what the filter graph is built from.
type graph struct {
	background string  // the input label of the original audio ("0:a:0"), "" for none
	duration   float64 // of the original, for a silent background when there is no audio
	clips      []placed
	// duck is the ranges the original is lowered over; nil: the clips'
	// (duckSpans). Mix sets it from the clips themselves when the graph
	// places batch tracks (premix) in their stead.
	duck       []span
	gain       float64 // linear gain of the ducked original
	targetLUFS float64
	// part > 0: the graph renders a part of this many samples, at
	// partHeadroom and without loudnorm (RenderPart).
	part int64
}

// build writes the filter graph; its output pad is [aout].
func (g graph) build() string {
	var b strings.Builder

	// The original: sample timestamps from 0, so t matches the slots, in
	// 10 ms frames for a smooth envelope.
	if g.background != "" {
		fmt.Fprintf(&b, "[%s]aresample=%d:async=1:first_pts=0,aformat=sample_fmts=fltp:channel_layouts=stereo", g.background, sampleRate)
	} else {
		fmt.Fprintf(&b, "anullsrc=r=%d:cl=stereo,atrim=duration=%s", sampleRate, num(g.duration, 6))
	}
	duck := g.duck
	if duck == nil {
		duck = duckSpans(g.clips)
	}
	if len(duck) > 0 && g.background != "" {
		fmt.Fprintf(&b, ",asetnsamples=n=%d:p=0,volume=volume='%s':eval=frame", frameSamples, duckExpr(duck, g.gain))
	}
	b.WriteString("[bg];\n")

	ls := writeLanes(&b, g.clips)

	b.WriteString("[bg]")
	for li := range ls {
		fmt.Fprintf(&b, "[lane%d]", li)
	}
	if len(ls) > 0 {
		// normalize=0: amix would otherwise divide every input by the number
		// of inputs; duration=first keeps the original's length.
		fmt.Fprintf(&b, "amix=inputs=%d:duration=first:dropout_transition=0:normalize=0,", len(ls)+1)
	}
	// loudnorm works at 192 kHz; bring it back down for the encoder. The
	// last aformat is not redundant: FFmpeg 5.1 reconfigures the graph when
	// the first decoded frame names its channel layout ("mono") where the
	// stream header did not, and without a fixed output layout that second
	// configuration fails ("Cannot select channel layout").
	if g.part > 0 {
		fmt.Fprintf(&b, "volume=%s,apad=whole_len=%d,atrim=end_sample=%d,%s[aout]\n", num(partHeadroom, 4), g.part, g.part, format)
		return b.String()
	}
	fmt.Fprintf(&b, "loudnorm=I=%s:TP=-1.5:LRA=11,%s[aout]\n", num(g.targetLUFS, 2), format)
	return b.String()
}

// format brings a branch to the graph's rate and layout.
var format = fmt.Sprintf("aresample=%d,aformat=sample_fmts=fltp:channel_layouts=stereo", sampleRate)

// writeLanes writes the clips' lanes, [lane0] to [laneN-1], and returns
// them.
func writeLanes(b *strings.Builder, clips []placed) [][]placed {
	ls := lanes(clips)
	for li, lane := range ls {
		var labels strings.Builder
		for k, c := range lane {
			filters := []string{"asetpts=PTS-STARTPTS"}
			if c.tempo != 1 {
				filters = append(filters, atempo(c.tempo)...)
			}
			if c.trimSec > 0 {
				fade := min(fadeSec, c.trimSec)
				filters = append(filters,
					"atrim=duration="+num(c.trimSec, 6),
					"afade=t=out:st="+num(c.trimSec-fade, 6)+":d="+num(fade, 6))
			}
			filters = append(filters, format)
			if c.skip > 0 {
				filters = append(filters, fmt.Sprintf("atrim=start_sample=%d,asetpts=PTS-STARTPTS", c.skip))
			}
			// Each clip of a lane fills the time up to the next one exactly,
			// so concat puts every clip at its own start sample.
			from := c.start
			if k == 0 {
				from = 0
				if c.start > 0 {
					filters = append(filters, fmt.Sprintf("adelay=delays=%dS:all=1", c.start))
				}
			}
			if k+1 < len(lane) {
				n := lane[k+1].start - from
				filters = append(filters, fmt.Sprintf("apad=whole_len=%d,atrim=end_sample=%d", n, n))
			}
			label := fmt.Sprintf("c%d", c.input)
			fmt.Fprintf(b, "[%d:a:0]%s[%s];\n", c.input, strings.Join(filters, ","), label)
			labels.WriteString("[" + label + "]")
		}
		if len(lane) == 1 {
			fmt.Fprintf(b, "%sanull[lane%d];\n", labels.String(), li)
		} else {
			fmt.Fprintf(b, "%sconcat=n=%d:v=0:a=1[lane%d];\n", labels.String(), len(lane), li)
		}
	}

	return ls
}

// batchGraph places clips (their starts relative to the batch's) on one
// track of exactly length samples: the batch's lanes mixed, padded with
// silence or cut to length. Its output pad is [aout].
func batchGraph(clips []placed, length int64) string {
	var b strings.Builder
	ls := writeLanes(&b, clips)
	for li := range ls {
		fmt.Fprintf(&b, "[lane%d]", li)
	}
	if len(ls) > 1 {
		fmt.Fprintf(&b, "amix=inputs=%d:duration=longest:dropout_transition=0:normalize=0,", len(ls))
	}
	fmt.Fprintf(&b, "apad=whole_len=%d,atrim=end_sample=%d,%s[aout]\n", length, length, format)
	return b.String()
}
