package speech

import (
	"strings"
	"unicode/utf8"
)

// SplitOptions say where a run of words becomes a new segment.
type SplitOptions struct {
	Pause      float64 // a silence of at least this many seconds splits (default SegmentPause)
	MaxSeconds float64 // a segment never grows past this (default SegmentMax)
	// MaxChars is the caption length limit: a segment never grows past it
	// (default CaptionMaxChars), so each one fits a two-line caption.
	MaxChars int
}

// CaptionMaxChars is the default longest segment text: two caption lines of
// 42 characters, the usual broadcast line length (BBC and Netflix timed-text
// guidelines both use 42 for Latin scripts).
const CaptionMaxChars = 84

// Split groups words (in time order) into segments: a new segment starts
// after a word that ends a sentence (., ?, !, …), when the speaker changes,
// after a pause of opts.Pause, and before the text or the duration would pass
// opts.MaxChars or opts.MaxSeconds. Each segment keeps its words, its times
// (from its first word's start to its last word's end) and its speaker
// (the first word's). Empty words are dropped.
func Split(words []Word, opts SplitOptions) []Segment {
	if opts.Pause <= 0 {
		opts.Pause = SegmentPause
	}
	if opts.MaxSeconds <= 0 {
		opts.MaxSeconds = SegmentMax
	}
	if opts.MaxChars <= 0 {
		opts.MaxChars = CaptionMaxChars
	}
	segs := []Segment{}
	var cur *Segment
	flush := func() {
		if cur != nil {
			cur.ID = len(segs)
			segs = append(segs, *cur)
			cur = nil
		}
	}
	for _, w := range words {
		w.Text = strings.TrimSpace(w.Text)
		if w.Text == "" {
			continue
		}
		if w.End < w.Start {
			w.End = w.Start
		}
		if cur != nil {
			last := cur.Words[len(cur.Words)-1]
			switch {
			case endsSentence(last.Text),
				w.Speaker != cur.Speaker,
				w.Start-last.End >= opts.Pause,
				w.End-cur.Start > opts.MaxSeconds,
				utf8.RuneCountInString(cur.Text)+1+utf8.RuneCountInString(w.Text) > opts.MaxChars:
				flush()
			}
		}
		if cur == nil {
			cur = &Segment{Start: w.Start, End: w.End, Text: w.Text, Speaker: w.Speaker, Words: []Word{w}}
			continue
		}
		cur.Text += " " + w.Text
		cur.End = max(cur.End, w.End)
		cur.Words = append(cur.Words, w)
	}
	flush()
	return segs
}

// endsSentence reports whether a word closes a sentence.
func endsSentence(w string) bool {
	w = strings.TrimRight(w, `"')]”’»`)
	for _, end := range []string{".", "?", "!", "…", "。", "？", "！"} {
		if strings.HasSuffix(w, end) {
			return true
		}
	}
	return false
}
