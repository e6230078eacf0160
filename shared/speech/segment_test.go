package speech

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGroupWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		words    []word
		duration float64
		want     []Segment
	}{
		{name: "nothing", want: []Segment{}},
		{name: "only fillers", words: []word{{"<s>", 0, 0.3}, {"<sil>", 0.3, 1}, {"[NOISE]", 1, 2}, {"++GARBAGE++", 2, 3}, {"</s>", 3, 4}}, want: []Segment{}},
		{
			name: "a pause of 0.5 s splits, a shorter one does not",
			words: []word{
				{"<s>", 0, 0.1}, {"hello", 0.1, 0.5}, {"<sil>", 0.5, 0.9}, {"world(2)", 0.9, 1.2},
				{"<sil>", 1.2, 1.7}, {"again", 1.7, 2}, {"</s>", 2, 2.2},
			},
			want: []Segment{{ID: 0, Start: 0.1, End: 1.2, Text: "hello world"}, {ID: 1, Start: 1.7, End: 2, Text: "again"}},
		},
		{
			name:  "a segment never passes 10 s",
			words: []word{{"a", 0, 4}, {"b", 4.1, 8}, {"c", 8.1, 10.5}, {"d", 10.6, 12}},
			want:  []Segment{{ID: 0, Start: 0, End: 8, Text: "a b"}, {ID: 1, Start: 8.1, End: 12, Text: "c d"}},
		},
		{
			name:     "times are rounded and kept inside the audio",
			words:    []word{{"x", -0.2, 0.40049}, {"y", 0.5, 9.9}},
			duration: 3,
			want:     []Segment{{ID: 0, Start: 0, End: 3, Text: "x y"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, groupWords(tt.words, tt.duration))
		})
	}
}

// testdata/continuous.txt is what pocketsphinx_continuous (Debian 12)
// printed for two eSpeak sentences with 3 s of silence between them.
func TestParseContinuous(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile("testdata/continuous.txt")
	require.NoError(t, err)
	words, err := parseContinuous(out)
	require.NoError(t, err)
	require.Equal(t, word{"<s>", 0, 0.32}, words[0])
	require.Equal(t, word{"well", 0.33, 0.65}, words[1])
	require.Equal(t, word{"</s>", 12.32, 12.67}, words[len(words)-1])

	segs := groupWords(words, 12.67)
	require.Equal(t, Segment{ID: 0, Start: 0.33, End: 1.59, Text: "well you got to"}, segs[0])
	requireWellFormed(t, segs, 12.67)
	// The 3 s of silence separate the two sentences.
	var gap bool
	for i := 1; i < len(segs); i++ {
		gap = gap || (segs[i-1].End <= 4.99 && segs[i].Start >= 7.74)
	}
	require.True(t, gap, "no segment boundary in the silence: %+v", segs)
}

// testdata/continuous-long.txt is one 52 s utterance with no long pause.
func TestParseContinuousLongUtterance(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile("testdata/continuous-long.txt")
	require.NoError(t, err)
	words, err := parseContinuous(out)
	require.NoError(t, err)
	segs := groupWords(words, 52.54)
	require.Greater(t, len(segs), 5)
	requireWellFormed(t, segs, 52.54)
}

// testdata/pocketsphinx5.jsonl follows the documented output of the
// pocketsphinx 5 CLI (written by hand: Debian 12 does not ship that version).
func TestParseJSONLines(t *testing.T) {
	t.Parallel()
	out, err := os.ReadFile("testdata/pocketsphinx5.jsonl")
	require.NoError(t, err)
	words, err := parseJSONLines(append([]byte("INFO: a log line on stdout\n"), out...))
	require.NoError(t, err)
	require.Len(t, words, 9)
	require.Equal(t, []Segment{
		{ID: 0, Start: 0.11, End: 1.58, Text: "go forward ten meters"},
		{ID: 1, Start: 4.1, End: 4.6, Text: "stop"},
	}, groupWords(words, 5))

	_, err = parseJSONLines([]byte(`{"w": [`))
	require.Error(t, err)
}

func requireWellFormed(t *testing.T, segs []Segment, duration float64) {
	t.Helper()
	prevEnd := 0.0
	for i, s := range segs {
		require.Equal(t, i, s.ID)
		require.NotEmpty(t, strings.TrimSpace(s.Text))
		require.NotContains(t, s.Text, "<")
		require.NotContains(t, s.Text, "(")
		require.GreaterOrEqual(t, s.Start, prevEnd, "segment %d overlaps the previous one", i)
		require.GreaterOrEqual(t, s.End, s.Start)
		require.LessOrEqual(t, s.End, duration)
		require.LessOrEqual(t, s.End-s.Start, SegmentMax)
		prevEnd = s.End
	}
}

func TestCleanAndClampText(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a b\nc\td", cleanText(" a\x00b\nc\td\x1b \xff"))
	require.Equal(t, "x", cleanText("\x00x\x07"))
	require.Equal(t, "hello", clampText("hello world", 8))
	require.Equal(t, "héllo", clampText("héllo", 5))
	require.Equal(t, "abcdefgh", clampText("abcdefghij", 8), "no space in the second half: a hard cut")
	long := strings.Repeat("é", 10)
	require.Equal(t, strings.Repeat("é", 4), clampText(long, 4))
}
