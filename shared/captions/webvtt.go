package captions

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
)

// WebVTT writes segs as a WebVTT file: the "WEBVTT" header, then numbered
// cues with "00:00:01.500" timestamps, each followed by a blank line. A
// segment's speaker becomes a voice span around each of its lines:
// "<v Speaker 1>Hello.</v>".
func WebVTT(segs []Segment) []byte {
	var b bytes.Buffer
	b.WriteString("WEBVTT\n\n")
	for i, c := range cues(segs, escapeVTT) {
		fmt.Fprintf(&b, "%d\n%s --> %s\n", i+1, timestamp(c.start, '.'), timestamp(c.end, '.'))
		for j, l := range c.lines {
			if v := voiceAnnotation(c.voices[j]); v != "" {
				l = "<v " + v + ">" + l + "</v>"
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// voiceAnnotation makes a speaker label safe inside "<v ...>": no markup,
// no line breaks, no control characters.
func voiceAnnotation(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return escapeVTT(strings.TrimSpace(s))
}

func escapeVTT(line string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(line)
}

// vttTag matches cue text markup: <i>, </i>, <v Speaker>, <c.loud>, <00:00:01.000>.
var vttTag = regexp.MustCompile(`<[^>\n]*>`)

// ParseWebVTT reads a WebVTT file. It skips the header, NOTE, STYLE and
// REGION blocks, reads cue identifiers (a numeric one becomes the ID, else
// the cue's position from 1), drops markup tags and decodes escapes. It
// returns an error wrapping ErrSyntax when the file does not start with
// "WEBVTT" or a cue's timing line is malformed.
func ParseWebVTT(data []byte) ([]Segment, error) {
	lines := splitLines(data)
	if h := lines[0]; h != "WEBVTT" && !strings.HasPrefix(h, "WEBVTT ") && !strings.HasPrefix(h, "WEBVTT\t") {
		return nil, fmt.Errorf("webvtt line 1: want the WEBVTT header: %w", ErrSyntax)
	}
	timing := func(l string) (float64, float64, bool) {
		return parseTiming(l, func(s string) (float64, bool) { return parseTimestamp(s, ".", false, 3) })
	}
	var segs []Segment
	i := skipBlock(lines, 0)
	for i < len(lines) {
		if strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		first := lines[i]
		if first == "NOTE" || strings.HasPrefix(first, "NOTE ") || strings.HasPrefix(first, "NOTE\t") ||
			first == "STYLE" || first == "REGION" {
			i = skipBlock(lines, i)
			continue
		}
		id := len(segs) + 1
		if !strings.Contains(first, "-->") {
			if n, err := strconv.Atoi(strings.TrimSpace(first)); err == nil {
				id = n
			}
			i++
			if i >= len(lines) {
				return nil, fmt.Errorf("webvtt line %d: cue %q has no timing line: %w", i, first, ErrSyntax)
			}
		}
		start, end, ok := timing(lines[i])
		if !ok {
			return nil, fmt.Errorf("webvtt line %d: bad timing %q: %w", i+1, lines[i], ErrSyntax)
		}
		var text []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			text = append(text, html.UnescapeString(vttTag.ReplaceAllString(lines[i], "")))
		}
		segs = append(segs, Segment{ID: id, Start: start, End: end, Text: strings.Join(text, "\n")})
	}
	return segs, nil
}

// skipBlock returns the index of the first blank line at or after i.
func skipBlock(lines []string, i int) int {
	for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
		i++
	}
	return i
}
