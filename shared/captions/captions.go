package captions

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Segment is one timed piece of text. It has the shape of speech.Segment, so
// converting between them is a plain type conversion.
type Segment struct {
	ID         int
	Start, End float64 // seconds from the start of the media
	Text       string
	Speaker    string // "Speaker 1"; WebVTT writes it as a voice span, SRT leaves it out
}

// DefaultDuration is how long, in seconds, a cue is shown when its segment
// has no usable end time.
const DefaultDuration = 1.0

// ErrSyntax is wrapped by the errors of ParseSRT and ParseWebVTT for input
// that is not a well-formed cue file.
var ErrSyntax = errors.New("captions: syntax error")

// maxMillis caps times at about 31 years, far beyond any media, so that the
// arithmetic on them cannot overflow.
const maxMillis = 1_000_000_000_000

// cue is a segment after tidying: whole milliseconds, clean text lines.
type cue struct {
	start, end int64
	lines      []string
	voices     []string // each line's speaker ("" for none)
}

// cues tidies segs as the package documentation describes; escape rewrites
// each cleaned line for the output format.
func cues(segs []Segment, escape func(string) string) []cue {
	out := make([]cue, 0, len(segs))
	for _, s := range segs {
		if math.IsNaN(s.Start) || math.IsInf(s.Start, 0) {
			continue
		}
		lines := cleanText(s.Text, escape)
		if len(lines) == 0 {
			continue
		}
		start := millis(s.Start)
		end := start + int64(math.Round(DefaultDuration*1000))
		if !math.IsNaN(s.End) && !math.IsInf(s.End, 0) && millis(s.End) > start {
			end = millis(s.End)
		}
		voices := make([]string, len(lines))
		for i := range voices {
			voices[i] = strings.TrimSpace(s.Speaker)
		}
		out = append(out, cue{start: start, end: end, lines: lines, voices: voices})
	}
	// Stable, so merged cues keep their lines in the caller's order.
	slices.SortStableFunc(out, func(a, b cue) int { return cmp.Compare(a.start, b.start) })

	merged := out[:0]
	for _, c := range out {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			if c.start == last.start {
				last.end = max(last.end, c.end)
				last.lines = append(last.lines, c.lines...)
				last.voices = append(last.voices, c.voices...)
				continue
			}
			// Sorted, so c.start > last.start and last keeps a positive length.
			last.end = min(last.end, c.start)
		}
		merged = append(merged, c)
	}
	return merged
}

func millis(sec float64) int64 {
	ms := math.Round(sec * 1000)
	switch {
	case ms <= 0:
		return 0
	case ms >= maxMillis:
		return maxMillis
	}
	return int64(ms)
}

// cleanText splits text into trimmed, non-empty lines without control
// characters, each passed through escape.
func cleanText(text string, escape func(string) string) []string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n").Replace(text)
	var lines []string
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.Map(func(r rune) rune {
			switch {
			case r == '\t':
				return ' '
			case r == '\uFEFF', unicode.IsControl(r):
				return -1
			}
			return r
		}, line)
		line = strings.TrimSpace(line)
		if line != "" {
			lines = append(lines, escape(line))
		}
	}
	return lines
}

// timestamp formats ms as HH:MM:SS<sep>mmm; hours grow past two digits when
// they must.
func timestamp(ms int64, sep byte) string {
	b := make([]byte, 0, 12)
	h := ms / 3_600_000
	if h < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, h, 10)
	b = append(b, ':')
	b = append2(b, ms/60_000%60)
	b = append(b, ':')
	b = append2(b, ms/1000%60)
	b = append(b, sep)
	frac := ms % 1000
	if frac < 100 {
		b = append(b, '0')
	}
	return string(append2(b, frac))
}

// append2 appends n (0..999) with at least two digits.
func append2(b []byte, n int64) []byte {
	if n < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, n, 10)
}

// parseTimestamp reads [H+:]MM:SS<sep>f as seconds. needHours and
// fracDigits (0 for 1 to 3 digits) set how strict it is.
func parseTimestamp(s string, seps string, needHours bool, fracDigits int) (float64, bool) {
	i := strings.IndexAny(s, seps)
	if i < 0 {
		return 0, false
	}
	clock, frac := s[:i], s[i+1:]
	if fracDigits > 0 && len(frac) != fracDigits || len(frac) < 1 || len(frac) > 3 || !digits(frac) {
		return 0, false
	}
	parts := strings.Split(clock, ":")
	if len(parts) == 2 && needHours || len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	var h int64
	if len(parts) == 3 {
		if !digits(parts[0]) || len(parts[0]) > 9 {
			return 0, false
		}
		h, _ = strconv.ParseInt(parts[0], 10, 64)
		parts = parts[1:]
	}
	m, okM := twoDigits(parts[0])
	sec, okS := twoDigits(parts[1])
	if !okM || !okS || m > 59 || sec > 59 {
		return 0, false
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	for range 3 - len(frac) {
		f *= 10
	}
	ms := ((h*60+m)*60+sec)*1000 + f
	return float64(ms) / 1000, true
}

func twoDigits(s string) (int64, bool) {
	if len(s) != 2 || !digits(s) {
		return 0, false
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// splitLines splits a cue file into lines, dropping a leading BOM and
// accepting CRLF, CR or LF endings.
func splitLines(data []byte) []string {
	s := strings.TrimPrefix(string(data), "\uFEFF")
	s = strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
	return strings.Split(s, "\n")
}

// parseTiming reads "start --> end [settings]" with ts; ok is false when the
// line is not a timing line at all.
func parseTiming(line string, ts func(string) (float64, bool)) (start, end float64, ok bool) {
	a, b, found := strings.Cut(line, "-->")
	if !found {
		return 0, 0, false
	}
	fields := strings.Fields(b)
	if len(fields) == 0 {
		return 0, 0, false
	}
	start, okA := ts(strings.TrimSpace(a))
	end, okB := ts(fields[0])
	return start, end, okA && okB
}
