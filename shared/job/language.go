package job

import (
	"slices"
	"strings"

	"github.com/redub/redub/shared/apperr"
)

// Language is one language a job may name, as a BCP-47 tag in its canonical
// case (language lower case, region upper case).
type Language struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// languages are the tags a job may name: the 29 languages of ElevenLabs'
// eleven_multilingual_v2 (the default speech model), which OpenAI's
// transcription and translation models also cover, and the regional
// variants people ask for by name. A closed list keeps the paid-call ledger
// meaningful: without it `es`, `ES` and `es-x0001` would be three requests
// to pay for (issue 13). Add a tag here, and to docs/openapi.yaml's enum,
// only once every provider of the recipes handles it.
var languages = []Language{
	{"ar", "Arabic"}, {"bg", "Bulgarian"}, {"cs", "Czech"}, {"da", "Danish"}, {"de", "German"},
	{"el", "Greek"}, {"en", "English"}, {"en-GB", "English (United Kingdom)"}, {"en-US", "English (United States)"},
	{"es", "Spanish"}, {"es-ES", "Spanish (Spain)"}, {"es-MX", "Spanish (Mexico)"}, {"fi", "Finnish"},
	{"fil", "Filipino"}, {"fr", "French"}, {"fr-CA", "French (Canada)"}, {"hi", "Hindi"}, {"hr", "Croatian"},
	{"id", "Indonesian"}, {"it", "Italian"}, {"ja", "Japanese"}, {"ko", "Korean"}, {"ms", "Malay"},
	{"nl", "Dutch"}, {"pl", "Polish"}, {"pt", "Portuguese"}, {"pt-BR", "Portuguese (Brazil)"},
	{"pt-PT", "Portuguese (Portugal)"}, {"ro", "Romanian"}, {"ru", "Russian"}, {"sk", "Slovak"},
	{"sv", "Swedish"}, {"ta", "Tamil"}, {"tr", "Turkish"}, {"uk", "Ukrainian"}, {"zh", "Chinese"},
	{"zh-CN", "Chinese (China)"}, {"zh-TW", "Chinese (Taiwan)"},
}

// Languages lists the languages a job may name, sorted by code.
func Languages() []Language { return slices.Clone(languages) }

// ParseLanguage returns the supported tag s names, in its canonical case
// ("ES" and "pt-br" are "es" and "pt-BR"). Anything else is an Invalid error
// on field, naming the value and where the list is.
func ParseLanguage(field, s string) (string, error) {
	want := canonicalTag(s)
	for _, l := range languages {
		if l.Code == want {
			return l.Code, nil
		}
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return "", apperr.InvalidField(field, "%s %q is not a supported language; use one of %s", field[strings.LastIndexByte(field, '.')+1:], s, languageCodes())
}

// canonicalTag puts a tag in BCP-47's usual case: the language subtag lower
// case, a two-letter region upper case.
func canonicalTag(s string) string {
	parts := strings.Split(strings.TrimSpace(s), "-")
	for i, p := range parts {
		if i > 0 && len(p) == 2 {
			parts[i] = strings.ToUpper(p)
		} else {
			parts[i] = strings.ToLower(p)
		}
	}
	return strings.Join(parts, "-")
}

func languageCodes() string {
	codes := make([]string, len(languages))
	for i, l := range languages {
		codes[i] = l.Code
	}
	return strings.Join(codes, ", ")
}
