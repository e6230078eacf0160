package captions

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// SRT writes segs as a SubRip file: numbered cues, "00:00:01,500"
// timestamps, LF line endings, a blank line after each cue. It
// returns an empty slice when no segment has text.
func SRT(segs []Segment) []byte {
	var b bytes.Buffer
	for i, c := range cues(segs, escapeSRT) {
		fmt.Fprintf(&b, "%d\n%s --> %s\n", i+1, timestamp(c.start, ','), timestamp(c.end, ','))
		for _, l := range c.lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func escapeSRT(line string) string {
	return strings.NewReplacer("<", "‹", ">", "›", "{", "｛", "}", "｝", `\`, "＼").Replace(line)
}

// ParseSRT reads a SubRip file. It accepts a BOM, CRLF line endings, a
// missing cue number, "." for "," and one to three fraction digits, and
// returns an error wrapping ErrSyntax naming the line of a malformed timing
// line or of text outside any cue.
func ParseSRT(data []byte) ([]Segment, error) {
	lines := splitLines(data)
	var segs []Segment
	timing := func(l string) (float64, float64, bool) {
		return parseTiming(l, func(s string) (float64, bool) { return parseTimestamp(s, ",.", true, 0) })
	}
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" {
			continue
		}
		id := len(segs) + 1
		if digits(line) && i+1 < len(lines) {
			if n, err := strconv.Atoi(line); err == nil {
				id = n
			}
			i++
			line = strings.TrimSpace(lines[i])
		}
		start, end, ok := timing(line)
		if !ok {
			if strings.Contains(line, "-->") {
				return nil, fmt.Errorf("srt line %d: bad timing %q: %w", i+1, line, ErrSyntax)
			}
			return nil, fmt.Errorf("srt line %d: want a cue timing line, got %q: %w", i+1, line, ErrSyntax)
		}
		var text []string
		for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
			next := strings.TrimSpace(lines[i+1])
			// A cue missing its blank line: the next cue starts here.
			if _, _, ok := timing(next); ok {
				break
			}
			if i+2 < len(lines) && digits(next) {
				if _, _, ok := timing(strings.TrimSpace(lines[i+2])); ok {
					break
				}
			}
			text = append(text, strings.TrimRight(lines[i+1], " \t"))
			i++
		}
		segs = append(segs, Segment{ID: id, Start: start, End: end, Text: strings.Join(text, "\n")})
	}
	return segs, nil
}
