package mix

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d, slot, max float64
		tempo        float64
		trim         bool
	}{
		{1, 2, 1.25, 1, false},        // short: as is
		{2.0005, 2, 1.25, 1, false},   // within a millisecond
		{2.2, 2, 1.25, 1.1, true},     // sped up to fit exactly
		{3, 2, 1.25, 1.25, true},      // capped, then cut
		{5, 2, 4, 2.5, true},          // past atempo's 2.0: chained
		{10, 2, 4, 4, true},           // capped at 4
		{2.5, 2, 1, 1, true},          // no speed-up allowed: cut
		{0.2, 0.01, 1.25, 1.25, true}, // a tiny slot
	} {
		tempo, trim := fit(tt.d, tt.slot, tt.max)
		require.InDelta(t, tt.tempo, tempo, 1e-9, "%+v", tt)
		require.Equal(t, tt.trim, trim, "%+v", tt)
	}
}

func TestATempo(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"atempo=1.25"}, atempo(1.25))
	require.Equal(t, []string{"atempo=2"}, atempo(2))
	require.Equal(t, []string{"atempo=2", "atempo=1.25"}, atempo(2.5))
	require.Equal(t, []string{"atempo=2", "atempo=2"}, atempo(4))
}

func TestLanes(t *testing.T) {
	t.Parallel()
	s := func(sec float64) int64 { return int64(sec * sampleRate) }
	clips := []placed{
		{input: 1, start: s(0), length: s(1)},
		{input: 2, start: s(1), length: s(2)},   // touches clip 1: within the margin, so its own lane
		{input: 3, start: s(2.5), length: s(1)}, // overlaps clip 2
		{input: 4, start: s(5), length: s(1)},
		{input: 5, start: s(1.5), length: s(0.2)}, // out of order, inside clip 2
	}
	got := lanes(clips)
	var inputs [][]int
	for _, lane := range got {
		var in []int
		for i, c := range lane {
			in = append(in, c.input)
			if i > 0 {
				prev := lane[i-1]
				require.LessOrEqual(t, prev.start+prev.length, c.start, "clips of a lane overlap")
			}
		}
		inputs = append(inputs, in)
	}
	require.Equal(t, [][]int{{1, 5, 3, 4}, {2}}, inputs)
}

func TestDuckSpans(t *testing.T) {
	t.Parallel()
	got := duckSpans([]placed{
		{slotStart: 5, slotEnd: 6},
		{slotStart: 1, slotEnd: 2},
		{slotStart: 2.15, slotEnd: 3}, // 150 ms after: joined
		{slotStart: 3.25, slotEnd: 4}, // 250 ms after: apart
	})
	require.Equal(t, []span{{1, 3}, {3.25, 4}, {5, 6}}, got)
}

// TestDuckExprManyClips evaluates the ducking expression for 300 slots in
// FFmpeg itself (aevalsrc, 100 samples a second) and compares it with the
// envelope it should draw.
func TestDuckExprManyClips(t *testing.T) {
	t.Parallel()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	var clips []placed
	for i := range 300 {
		start := float64(i) * 2.1
		clips = append(clips, placed{slotStart: start, slotEnd: start + 1.3 + float64(i%5)*0.1})
	}
	spans := duckSpans(clips)
	require.Len(t, spans, 300)
	const gain = 0.125
	expr := duckExpr(spans, gain)
	require.Less(t, len(expr), 300*45, "expression length")
	require.NotContains(t, expr, "e+", "no exponent notation")
	require.NotContains(t, expr, "e-")
	require.NotContains(t, expr, "--", "a negative ramp start is written t+0.1")

	const rate = 100
	duration := spans[len(spans)-1].to + 1
	cmd := exec.CommandContext(t.Context(), ffmpeg, "-nostdin", "-v", "error", "-f", "lavfi",
		"-i", "aevalsrc=exprs='"+expr+"':s="+num(rate, 0)+":d="+num(duration, 3),
		"-f", "f32le", "-")
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Greater(t, len(out), int(duration*rate)*4-40)

	want := func(t float64) float64 {
		for _, s := range spans {
			env := math.Max(0, math.Min(1, math.Min(t-(s.from-rampSec), (s.to+rampSec)-t)/rampSec))
			if env > 0 {
				return 1 - (1-gain)*env
			}
		}
		return 1
	}
	ducked := 0
	for i := 0; i+4 <= len(out); i += 4 {
		got := float64(math.Float32frombits(binary.LittleEndian.Uint32(out[i:])))
		at := float64(i/4) / rate
		require.InDelta(t, want(at), got, 1e-3, "gain at %.2f s", at)
		if got < 0.13 {
			ducked++
		}
	}
	require.Greater(t, ducked, 300*100, "most of each slot is ducked")

	// Ten hours of sentences still make an expression FFmpeg accepts.
	var many []span
	for i := range 12000 {
		many = append(many, span{float64(i) * 3, float64(i)*3 + 2})
	}
	script := filepath.Join(t.TempDir(), "graph")
	require.NoError(t, os.WriteFile(script, []byte("aevalsrc=exprs='"+duckExpr(many, gain)+"':s=100:d=0.1[out]"), 0o600))
	cmd = exec.CommandContext(t.Context(), ffmpeg, "-nostdin", "-v", "error",
		"-filter_complex_script", script, "-map", "[out]", "-f", "null", "-")
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "%.300s", msg)
}

func TestDuckExprEmpty(t *testing.T) {
	t.Parallel()
	require.Equal(t, "1", duckExpr(nil, 0.125))
	require.Equal(t, "1-0.875*(clip(min(t-0.9,2.1-t)*10,0,1))", duckExpr([]span{{1, 2}}, 0.125))
}

func TestGraph(t *testing.T) {
	t.Parallel()
	g := graph{
		background: "0:a:0",
		duration:   6,
		gain:       0.125,
		targetLUFS: -16,
		clips: []placed{
			{input: 1, start: 24000, length: 120000, tempo: 1.25, trimSec: 2.5, slotStart: 0.5, slotEnd: 3},
			{input: 2, start: 168000, length: 44000, tempo: 1, slotStart: 3.5, slotEnd: 5},
		},
	}
	got := g.build()
	for _, want := range []string{
		"[0:a:0]aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:channel_layouts=stereo,asetnsamples=n=480:p=0,volume=volume='1-0.875*(clip(min(t-0.4,3.1-t)*10,0,1)+clip(min(t-3.4,5.1-t)*10,0,1))':eval=frame[bg];\n",
		"[1:a:0]asetpts=PTS-STARTPTS,atempo=1.25,atrim=duration=2.5,afade=t=out:st=2.45:d=0.05,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,adelay=delays=24000S:all=1,apad=whole_len=168000,atrim=end_sample=168000[c1];\n",
		"[2:a:0]asetpts=PTS-STARTPTS,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[c2];\n",
		"[c1][c2]concat=n=2:v=0:a=1[lane0];\n",
		"[bg][lane0]amix=inputs=2:duration=first:dropout_transition=0:normalize=0,loudnorm=I=-16:TP=-1.5:LRA=11,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[aout]\n",
	} {
		require.Contains(t, got, want)
	}

	// No clips: the original, normalized; no audio either: silence of the
	// original's length.
	g.clips, g.background = nil, ""
	require.Equal(t, "anullsrc=r=48000:cl=stereo,atrim=duration=6[bg];\n"+
		"[bg]loudnorm=I=-16:TP=-1.5:LRA=11,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[aout]\n", g.build())
	require.False(t, strings.Contains(g.build(), "volume"))
}

func TestTrackLanguage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"en": "eng", "EN": "eng", "pt-BR": "por", "zh_Hans": "zho", "de": "deu", "jw": "jav",
		"eng": "eng", "fil": "fil", "yue": "yue",
		"": "und", "xx": "und", "e": "und", "english": "und", "e1": "und", "-en": "und",
	} {
		require.Equal(t, want, trackLanguage(in), "%q", in)
	}
}
