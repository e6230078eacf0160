package speech

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// How recognised words are grouped into segments: a pause of at least
// SegmentPause seconds between two words starts a new segment, and so does a
// segment that would otherwise grow past SegmentMax seconds.
const (
	SegmentPause = 0.5
	SegmentMax   = 10.0
)

// word is one recognised word with its times in seconds.
type word struct {
	text       string
	start, end float64
}

// groupWords turns words (in time order) into segments as described at
// SegmentPause. Fillers (<s>, <sil>, [NOISE], ++GARBAGE++) are dropped and
// pronunciation variants lose their suffix ("that(2)" is "that"). Times are
// rounded to milliseconds and kept within [0, duration] when duration > 0.
func groupWords(words []word, duration float64) []Segment {
	segs := []Segment{}
	var cur []string
	var start, end float64
	flush := func() {
		if len(cur) > 0 {
			segs = append(segs, Segment{ID: len(segs), Start: start, End: end, Text: strings.Join(cur, " ")})
			cur = cur[:0]
		}
	}
	for _, w := range words {
		text := cleanWord(w.text)
		if text == "" {
			continue
		}
		s, e := clampTime(w.start, duration), clampTime(w.end, duration)
		if e < s {
			e = s
		}
		if len(cur) > 0 && (s-end >= SegmentPause || e-start > SegmentMax) {
			flush()
		}
		if len(cur) == 0 {
			start, end = s, e
		}
		cur = append(cur, text)
		end = max(end, e)
	}
	flush()
	return segs
}

// cleanWord returns a recognised word as text, or "" for a filler.
func cleanWord(w string) string {
	w = strings.TrimSpace(w)
	if w == "" || strings.ContainsAny(w[:1], "<[+") {
		return ""
	}
	if i := strings.IndexByte(w, '('); i > 0 && strings.HasSuffix(w, ")") {
		w = w[:i]
	}
	return w
}

func clampTime(t, duration float64) float64 {
	if math.IsNaN(t) || t < 0 {
		t = 0
	}
	if duration > 0 && t > duration {
		t = duration
	}
	return math.Round(t*1000) / 1000
}

// parseContinuous reads what pocketsphinx_continuous -time yes prints (the
// pocketsphinx 5prealpha CLI of Debian 12): for each utterance, a line with
// the hypothesis, then one line per word, filler or silence:
//
//	hello world
//	<s> 0.000 0.320 0.999300
//	hello 0.330 0.650 0.991337
//	<sil> 0.660 1.080 0.999300
//	world(2) 1.090 1.280 0.085470
//	</s> 1.290 1.590 1.000000
//
// Word lines are "word start end confidence" with times in seconds from the
// start of the input; every other line is a hypothesis and is skipped.
func parseContinuous(out []byte) ([]word, error) {
	var words []word
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			continue
		}
		start, err1 := strconv.ParseFloat(f[1], 64)
		end, err2 := strconv.ParseFloat(f[2], 64)
		_, err3 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		words = append(words, word{text: f[0], start: start, end: end})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read pocketsphinx output: %w", err)
	}
	return words, nil
}

// parseJSONLines reads what the pocketsphinx 5 CLI prints: one JSON object
// per utterance, with its words in "w", each word's start in "b" and its
// duration in "d" (seconds), and its text in "t":
//
//	{"b":0.000,"d":1.230,"p":1.000,"t":"go forward","w":[{"b":0.000,"d":0.300,"p":1.000,"t":"<s>"},...]}
func parseJSONLines(out []byte) ([]word, error) {
	type jword struct {
		B float64 `json:"b"`
		D float64 `json:"d"`
		T string  `json:"t"`
	}
	var words []word
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var utt struct {
			W []jword `json:"w"`
		}
		if err := json.Unmarshal(line, &utt); err != nil {
			return nil, fmt.Errorf("decode pocketsphinx output: %w", err)
		}
		for _, w := range utt.W {
			words = append(words, word{text: w.T, start: w.B, end: w.B + w.D})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read pocketsphinx output: %w", err)
	}
	return words, nil
}
