package captions

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSRTFormat(t *testing.T) {
	t.Parallel()
	got := SRT([]Segment{
		{ID: 0, Start: 0, End: 1.5, Text: "Hello there."},
		{ID: 1, Start: 1.5, End: 3.25, Text: "Two\nlines"},
	})
	require.Equal(t, "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"+
		"2\n00:00:01,500 --> 00:00:03,250\nTwo\nlines\n\n", string(got))
	require.Empty(t, SRT(nil))
	require.Empty(t, SRT([]Segment{{Start: 1, End: 2, Text: " \n\t "}}))
}

func TestWebVTTFormat(t *testing.T) {
	t.Parallel()
	got := WebVTT([]Segment{
		{ID: 0, Start: 0, End: 1.5, Text: "Hello there."},
		{ID: 1, Start: 1.5, End: 3.25, Text: "Two\nlines"},
	})
	require.Equal(t, "WEBVTT\n\n"+
		"1\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n"+
		"2\n00:00:01.500 --> 00:00:03.250\nTwo\nlines\n\n", string(got))
	require.Equal(t, "WEBVTT\n\n", string(WebVTT(nil)))
}

func TestTimestamps(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sec      float64
		srt, vtt string
	}{
		{0, "00:00:00,000", "00:00:00.000"},
		{-3, "00:00:00,000", "00:00:00.000"},
		{0.0004, "00:00:00,000", "00:00:00.000"},
		{0.0006, "00:00:00,001", "00:00:00.001"},
		{1.2344, "00:00:01,234", "00:00:01.234"},
		{1.2346, "00:00:01,235", "00:00:01.235"},
		{59.9996, "00:01:00,000", "00:01:00.000"},
		{3599.9996, "01:00:00,000", "01:00:00.000"},
		{3600 + 23*60 + 45.678, "01:23:45,678", "01:23:45.678"},
		{100*3600 + 0.5, "100:00:00,500", "100:00:00.500"},
	} {
		ms := millis(tt.sec)
		require.Equal(t, tt.srt, timestamp(ms, ','), "%v s", tt.sec)
		require.Equal(t, tt.vtt, timestamp(ms, '.'), "%v s", tt.sec)

		// Whatever the time, the cue reads back as the rounded time.
		segs := []Segment{{Start: tt.sec, End: tt.sec + 2, Text: "x"}}
		want := float64(ms) / 1000
		fromSRT, err := ParseSRT(SRT(segs))
		require.NoError(t, err)
		require.Len(t, fromSRT, 1)
		require.InDelta(t, want, fromSRT[0].Start, 1e-9, "%v s", tt.sec)
		fromVTT, err := ParseWebVTT(WebVTT(segs))
		require.NoError(t, err)
		require.Len(t, fromVTT, 1)
		require.InDelta(t, want, fromVTT[0].Start, 1e-9, "%v s", tt.sec)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	segs := []Segment{
		{ID: 1, Start: 0.5, End: 2.0, Text: "Bonjour à tous."},
		{ID: 2, Start: 2.0, End: 4.321, Text: "Line one\nLine two"},
		{ID: 3, Start: 3723.004, End: 3725, Text: "After an hour: 日本語, émoji 🎬"},
	}
	for name, parse := range map[string]func() ([]Segment, error){
		"srt":    func() ([]Segment, error) { return ParseSRT(SRT(segs)) },
		"webvtt": func() ([]Segment, error) { return ParseWebVTT(WebVTT(segs)) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parse()
			require.NoError(t, err)
			requireSegments(t, segs, got)
		})
	}
}

func TestHostileText(t *testing.T) {
	t.Parallel()
	hostile := []string{
		"a --> b",
		"1\n00:00:09,000 --> 00:00:10,000\ninjected",
		"WEBVTT\n\nNOTE sneaky",
		"<b>bold</b> <script>alert(1)</script> <font color=red>x</font>",
		`{\an8}top {Y:i}italic a\Nb \h`,
		"Tom & Jerry &amp; &lt;tag&gt;",
		"first\n\n\n  second  \r\nthird\rfourth",
		"nul\x00 bell\a esc\x1b[31m tab\there \ufeffbom",
		"bad utf8 \xff\xfe end",
		"12",
	}
	var segs []Segment
	for i, text := range hostile {
		segs = append(segs, Segment{ID: i, Start: float64(i), End: float64(i) + 0.9, Text: text})
	}

	srt := SRT(segs)
	gotSRT, err := ParseSRT(srt)
	require.NoError(t, err)
	require.Len(t, gotSRT, len(hostile), "no cue injected or lost:\n%s", srt)
	for _, s := range gotSRT {
		require.NotContains(t, s.Text, "-->")
		require.NotContains(t, s.Text, "\n\n")
		require.NotContainsf(t, s.Text, "<", "srt markup in %q", s.Text)
		require.NotContains(t, s.Text, ">")
		require.NotContains(t, s.Text, "{")
		require.NotContains(t, s.Text, `\`)
		require.True(t, strings.IndexFunc(s.Text, func(r rune) bool { return r < ' ' && r != '\n' }) < 0, "control character in %q", s.Text)
	}
	require.Equal(t, "a --› b", gotSRT[0].Text)
	require.Equal(t, "‹b›bold‹/b› ‹script›alert(1)‹/script› ‹font color=red›x‹/font›", gotSRT[3].Text)
	require.Equal(t, "｛＼an8｝top ｛Y:i｝italic a＼Nb ＼h", gotSRT[4].Text)
	require.Equal(t, "first\nsecond\nthird\nfourth", gotSRT[6].Text)
	require.Equal(t, "nul bell esc[31m tab here bom", gotSRT[7].Text)
	require.Equal(t, "bad utf8 \uFFFD end", gotSRT[8].Text)
	require.Equal(t, "12", gotSRT[9].Text)

	vtt := WebVTT(segs)
	gotVTT, err := ParseWebVTT(vtt)
	require.NoError(t, err)
	require.Len(t, gotVTT, len(hostile), "no cue injected or lost:\n%s", vtt)
	require.NotContains(t, string(vtt), "a --> b")
	// WebVTT escapes, so the text comes back as it was said.
	require.Equal(t, "a --> b", gotVTT[0].Text)
	require.Equal(t, "1\n00:00:09,000 --> 00:00:10,000\ninjected", gotVTT[1].Text)
	require.Equal(t, "WEBVTT\nNOTE sneaky", gotVTT[2].Text)
	require.Equal(t, hostile[3], gotVTT[3].Text)
	require.Equal(t, hostile[4], gotVTT[4].Text)
	require.Equal(t, hostile[5], gotVTT[5].Text)
	require.Equal(t, "first\nsecond\nthird\nfourth", gotVTT[6].Text)
	for i := range gotVTT {
		require.Equal(t, gotSRT[i].Start, gotVTT[i].Start)
		require.Equal(t, gotSRT[i].End, gotVTT[i].End)
	}
}

func TestTidying(t *testing.T) {
	t.Parallel()
	got, err := ParseSRT(SRT([]Segment{
		{Start: 5, End: 6, Text: "last"},
		{Start: 1, End: 3, Text: "overlaps the next"},
		{Start: 2, End: 2.5, Text: "same start A"},
		{Start: 2, End: 4, Text: "same start B"},
		{Start: -1, End: 0.5, Text: "negative start"},
		{Start: 7, End: 6, Text: "ends before it starts"},
		{Start: 9, End: math.NaN(), Text: "no end"},
		{Start: math.NaN(), End: 1, Text: "no start"},
		{Start: math.Inf(1), End: 1, Text: "infinite start"},
		{Start: 8, End: 8.5, Text: "   "},
	}))
	require.NoError(t, err)
	requireSegments(t, []Segment{
		{ID: 1, Start: 0, End: 0.5, Text: "negative start"},
		{ID: 2, Start: 1, End: 2, Text: "overlaps the next"},
		{ID: 3, Start: 2, End: 4, Text: "same start A\nsame start B"},
		{ID: 4, Start: 5, End: 6, Text: "last"},
		{ID: 5, Start: 7, End: 8, Text: "ends before it starts"},
		{ID: 6, Start: 9, End: 10, Text: "no end"},
	}, got)
	for i := 1; i < len(got); i++ {
		require.LessOrEqual(t, got[i-1].End, got[i].Start, "cues overlap")
		require.Less(t, got[i].Start, got[i].End)
	}
}

func TestParseSRTTolerates(t *testing.T) {
	t.Parallel()
	in := "\uFEFF1\r\n00:00:01,000 --> 00:00:02,500 X1:40 X2:600 Y1:20 Y2:50\r\n<i>Hi</i>\r\n\r\n" +
		"00:00:03.5 --> 00:00:04.25\r\nno number, dots, short fractions\r\n" +
		"7\r\n00:00:05,000 --> 00:00:06,000\r\nno blank line before me\r\n"
	got, err := ParseSRT([]byte(in))
	require.NoError(t, err)
	requireSegments(t, []Segment{
		{ID: 1, Start: 1, End: 2.5, Text: "<i>Hi</i>"},
		{ID: 2, Start: 3.5, End: 4.25, Text: "no number, dots, short fractions"},
		{ID: 7, Start: 5, End: 6, Text: "no blank line before me"},
	}, got)

	got, err = ParseSRT([]byte("\n\n"))
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestParseWebVTTTolerates(t *testing.T) {
	t.Parallel()
	in := "WEBVTT - a title\nKind: captions\n\n" +
		"NOTE a comment\nover lines\n\n" +
		"STYLE\n::cue { color: red }\n\n" +
		"intro\n00:01.000 --> 00:02.000 align:start position:10%\n<v Ann>Hello</v> <c.loud>&amp; <i>welcome</i></c>&nbsp;!\n\n" +
		"42\n01:00:00.000 --> 01:00:01.000\nsecond\n"
	got, err := ParseWebVTT([]byte(in))
	require.NoError(t, err)
	requireSegments(t, []Segment{
		{ID: 1, Start: 1, End: 2, Text: "Hello & welcome\u00a0!"},
		{ID: 42, Start: 3600, End: 3601, Text: "second"},
	}, got)
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"1\n00:00:01 --> 00:00:02,000\nno fraction\n",
		"1\n00:61:01,000 --> 00:00:02,000\nbad minutes\n",
		"1\n00:00:01,000 -> 00:00:02,000\nbad arrow\n",
		"just some text\n",
		"1\n00:00:01,000 --> \nno end\n",
	} {
		_, err := ParseSRT([]byte(in))
		require.ErrorIs(t, err, ErrSyntax, "%q", in)
	}
	for _, in := range []string{
		"",
		"WEBVTTX\n\n",
		"1\n00:00:01.000 --> 00:00:02.000\nno header\n",
		"WEBVTT\n\n00:00:01,000 --> 00:00:02,000\ncomma\n",
		"WEBVTT\n\n00:00:01.5 --> 00:00:02.000\nshort fraction\n",
		"WEBVTT\n\nid only",
	} {
		_, err := ParseWebVTT([]byte(in))
		require.ErrorIs(t, err, ErrSyntax, "%q", in)
	}
}

// TestFFmpegReadsOutput checks that FFmpeg, which muxes the SRT into the
// voiceover video, reads hostile captions back as the same cues and words.
func TestFFmpegReadsOutput(t *testing.T) {
	t.Parallel()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	segs := []Segment{
		{Start: 0.25, End: 1, Text: "<b>not bold</b> {\\an8}not on top a\\Nb"},
		{Start: 1, End: 2.5, Text: "a --> b\n\n2\n00:00:05,000 --> 00:00:06,000\nx"},
		{Start: 2.5, End: 3, Text: "Tom & Jerry <3"},
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.srt")
	require.NoError(t, os.WriteFile(in, SRT(segs), 0o600))
	mp4 := filepath.Join(dir, "out.mp4")
	out := filepath.Join(dir, "out.srt")
	for _, args := range [][]string{
		{"-f", "srt", "-i", in, "-c:s", "mov_text", mp4},
		{"-i", mp4, "-map", "0:s:0", out},
	} {
		cmd := exec.CommandContext(t.Context(), ffmpeg, append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", msg)
	}
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := ParseSRT(data)
	require.NoError(t, err)
	want, err := ParseSRT(SRT(segs))
	require.NoError(t, err)
	requireSegments(t, want, got)
}

func requireSegments(t *testing.T, want, got []Segment) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].ID, got[i].ID, "cue %d id", i)
		require.InDelta(t, want[i].Start, got[i].Start, 1e-9, "cue %d start", i)
		require.InDelta(t, want[i].End, got[i].End, 1e-9, "cue %d end", i)
		require.Equal(t, want[i].Text, got[i].Text, "cue %d text", i)
	}
}

// Speakers become WebVTT voice spans (and a parse gives the text back);
// SRT has no voices and leaves them out.
func TestWebVTTVoiceSpans(t *testing.T) {
	t.Parallel()
	segs := []Segment{
		{ID: 0, Start: 0.5, End: 1.5, Text: "Good morning.", Speaker: "Speaker 1"},
		{ID: 1, Start: 1.6, End: 3, Text: "Hi <there>", Speaker: "Speaker <2>"},
		{ID: 2, Start: 3.2, End: 4, Text: "No label."},
	}
	vtt := string(WebVTT(segs))
	require.Contains(t, vtt, "00:00:00.500 --> 00:00:01.500\n<v Speaker 1>Good morning.</v>\n")
	require.Contains(t, vtt, "<v Speaker &lt;2&gt;>Hi &lt;there&gt;</v>\n")
	require.Contains(t, vtt, "\nNo label.\n")
	back, err := ParseWebVTT([]byte(vtt))
	require.NoError(t, err)
	require.Equal(t, "Good morning.", back[0].Text)
	require.Equal(t, "Hi <there>", back[1].Text)
	require.NotContains(t, string(SRT(segs)), "Speaker")
}
