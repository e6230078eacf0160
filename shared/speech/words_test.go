package speech

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitWords(t *testing.T) {
	t.Parallel()
	w := func(text string, start, end float64, speaker string) Word {
		return Word{Text: text, Start: start, End: end, Speaker: speaker}
	}
	texts := func(segs []Segment) []string {
		out := make([]string, len(segs))
		for i, s := range segs {
			out[i] = s.Speaker + ":" + s.Text
		}
		return out
	}
	t.Run("sentence ends, speaker changes and pauses split", func(t *testing.T) {
		t.Parallel()
		segs := Split([]Word{
			w("Hello", 0, 0.4, "Speaker 1"), w("there.", 0.45, 0.8, "Speaker 1"), w("How", 0.85, 1, "Speaker 1"),
			w("are", 1.05, 1.2, "Speaker 1"), w("you", 1.25, 1.5, "Speaker 2"), w("doing", 2.3, 2.6, "Speaker 2"), w("today", 2.65, 3, "Speaker 2"),
		}, SplitOptions{})
		require.Equal(t, []string{"Speaker 1:Hello there.", "Speaker 1:How are", "Speaker 2:you", "Speaker 2:doing today"}, texts(segs))
		for i, s := range segs {
			require.Equal(t, i, s.ID)
			require.Equal(t, s.Words[0].Start, s.Start)
			require.Equal(t, s.Words[len(s.Words)-1].End, s.End)
		}
	})
	t.Run("the caption length limit splits", func(t *testing.T) {
		t.Parallel()
		var words []Word
		for i := range 30 {
			words = append(words, w("word", float64(i)*0.3, float64(i)*0.3+0.25, ""))
		}
		segs := Split(words, SplitOptions{MaxChars: 20})
		for _, s := range segs {
			require.LessOrEqual(t, len(s.Text), 20, s.Text)
		}
		require.Len(t, segs, 8, "four words (19 chars) per segment")
	})
	t.Run("no words, no segments", func(t *testing.T) {
		t.Parallel()
		require.Empty(t, Split([]Word{w(" ", 0, 1, "")}, SplitOptions{}))
	})
}
