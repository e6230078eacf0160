package speech

import "strings"

// TempoBound is the most a line may be sped up to fit its slot before it is
// rewritten shorter: beyond about 1.15x, sped-up speech starts to sound
// rushed (the complaint of VideoLingo #453 and SoniTranslate #77/#89).
const TempoBound = 1.15

// rate is a language's natural speaking rate in characters (letters,
// spaces and punctuation of its usual script) per second.
type rate struct {
	cps    float64
	source string
}

// rates: syllables per second from Pellegrino, Coupé & Marsico, "A
// cross-language perspective on speech information rate", Language 87(3),
// 2011 (read speech, table 1), times characters per syllable of the
// language's script. The characters-per-syllable factors are our estimates
// for running text with spaces (not measured); Mandarin's is exact (one
// hanzi is one syllable).
func rates() map[string]rate {
	const p = "Pellegrino et al. 2011 syllables/s"
	return map[string]rate{
		"en": {6.19 * 2.5, p + " 6.19 × 2.5 chars/syllable (estimate)"},
		"es": {7.82 * 2.2, p + " 7.82 × 2.2 chars/syllable (estimate)"},
		"fr": {7.18 * 2.3, p + " 7.18 × 2.3 chars/syllable (estimate)"},
		"de": {5.97 * 2.9, p + " 5.97 × 2.9 chars/syllable (estimate)"},
		"it": {6.99 * 2.3, p + " 6.99 × 2.3 chars/syllable (estimate)"},
		"ja": {7.84 * 0.7, p + " 7.84 morae/s × 0.7 chars/mora (estimate: kanji carry about two morae)"},
		"zh": {5.18 * 1.0, p + " 5.18 × 1 hanzi/syllable"},
	}
}

// DefaultCharsPerSecond is the rate of a language the table lacks: about
// the middle of the table.
const DefaultCharsPerSecond = 15.0

// CharsPerSecond is the speaking rate of a language (BCP 47 tag or ISO 639
// code; its primary subtag decides) and where the figure comes from.
func CharsPerSecond(language string) (float64, string) {
	primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(language)), "-")
	if r, ok := rates()[primary]; ok {
		return r.cps, r.source
	}
	return DefaultCharsPerSecond, "default (no figure for this language)"
}

// CharBudget is how many characters of language fit in seconds of speech,
// at least 8 so that a short slot still gets a word or two.
func CharBudget(language string, seconds float64) int {
	cps, _ := CharsPerSecond(language)
	return max(8, int(seconds*cps))
}
