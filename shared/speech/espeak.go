package speech

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redub/redub/shared/apperr"
)

// EspeakMaxChars is the most text one Synthesize call speaks; longer text is
// cut at the last word boundary before it. (ElevenLabs has a similar limit
// per request, so callers already send one segment at a time.)
const EspeakMaxChars = 5000

// Espeak is the local, offline Synthesizer: eSpeak NG, a robotic but
// intelligible formant synthesizer that speaks about a hundred languages. It
// is safe for concurrent use.
type Espeak struct {
	bin    string
	voices map[string]bool // language codes espeak-ng knows
}

// NewEspeak finds the espeak-ng command (binary when it is not empty: a name
// on PATH or a path) and reads the languages it speaks. It fails, naming the
// Debian package to install, when the command is missing or does not run.
func NewEspeak(binary string) (*Espeak, error) {
	if binary == "" {
		binary = "espeak-ng"
	}
	bin, err := exec.LookPath(binary)
	if err != nil {
		return nil, fmt.Errorf("speech: espeak-ng is not installed (install the Debian package espeak-ng): %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, "espeak-ng", bin, []string{"--voices"}, nil, &out); err != nil {
		return nil, fmt.Errorf("speech: list espeak-ng voices (is the Debian package espeak-ng-data installed?): %w", err)
	}
	voices := parseVoices(out.Bytes())
	if len(voices) == 0 {
		return nil, fmt.Errorf("speech: espeak-ng lists no voices (install the Debian package espeak-ng-data)")
	}
	return &Espeak{bin: bin, voices: voices}, nil
}

var _ Synthesizer = (*Espeak)(nil)

// otherLanguage matches the "(zh-cmn 5)" entries of espeak-ng --voices.
var otherLanguage = regexp.MustCompile(`\(([A-Za-z0-9-]+) [0-9]+\)`)

// parseVoices reads the table of espeak-ng --voices:
//
//	Pty Language       Age/Gender VoiceName          File                 Other Languages
//	 5  cmn             --/M      Chinese_(Mandarin) sit/cmn              (zh-cmn 5)(zh 5)
func parseVoices(out []byte) map[string]bool {
	voices := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] == "Pty" {
			continue
		}
		voices[strings.ToLower(f[1])] = true
		for _, m := range otherLanguage.FindAllStringSubmatch(sc.Text(), -1) {
			voices[strings.ToLower(m[1])] = true
		}
	}
	return voices
}

// Voice returns the espeak-ng voice used for a language tag: the tag itself
// when espeak-ng knows it ("en-us", "pt-br"), else its primary language
// ("fr" for "fr-CA"), else English.
func (e *Espeak) Voice(language string) string {
	lang := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(language), "_", "-"))
	primary, _, _ := strings.Cut(lang, "-")
	for _, v := range []string{lang, primary} {
		if v != "" && e.voices[v] {
			return v
		}
	}
	return "en"
}

// EspeakVariants are the voice variants Synthesize takes in req.Voice (male
// m1-m8, female f1-f5, from espeak-ng-data/voices/!v), in the order the
// synthesize step hands them to a job's speakers.
func EspeakVariants() []string {
	return []string{"m1", "f3", "m3", "f1", "m7", "f4", "m5", "f2", "m2", "f5", "m4", "m6", "m8"}
}

// Synthesize speaks req.Text in the voice of req.Language (see Voice), with
// req.Voice's variant when it is one of EspeakVariants, and returns a WAV
// file (22.05 kHz mono 16-bit PCM). Other voices, PreviousText and NextText
// are ignored. Control characters become spaces and text longer than
// EspeakMaxChars is cut; the usage counts the characters spoken and the
// seconds of audio. Text with nothing to say is apperr.Invalid.
//
// The text reaches espeak-ng on its standard input, never as an argument or
// through a shell, and without SSML, so no text can become an option, a
// command or markup.
func (e *Espeak) Synthesize(ctx context.Context, req SpeechRequest) ([]byte, string, Usage, error) {
	text := clampText(cleanText(req.Text), EspeakMaxChars)
	if text == "" {
		return nil, "", Usage{}, apperr.InvalidField("text", "there is no text to speak")
	}
	dir, err := os.MkdirTemp("", "redub-espeak-")
	if err != nil {
		return nil, "", Usage{}, fmt.Errorf("espeak-ng: scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	// A file rather than --stdout: espeak-ng streams to stdout with a
	// placeholder length in the WAV header.
	out := filepath.Join(dir, "speech.wav")
	voice := e.Voice(req.Language)
	if slices.Contains(EspeakVariants(), req.Voice) {
		voice += "+" + req.Voice // from a fixed list: never an option or a path
	}
	args := []string{"-v", voice, "-b", "1", "-w", out, "--stdin"}
	if err := run(ctx, "espeak-ng", e.bin, args, strings.NewReader(text), nil); err != nil {
		return nil, "", Usage{}, err
	}
	audio, err := os.ReadFile(out)
	if err != nil {
		return nil, "", Usage{}, fmt.Errorf("espeak-ng: read output: %w", err)
	}
	w, err := ReadWAV(bytes.NewReader(audio), int64(len(audio)))
	if err != nil {
		return nil, "", Usage{}, fmt.Errorf("espeak-ng: output: %w", err)
	}
	return audio, "wav", Usage{Characters: utf8.RuneCountInString(text), AudioSeconds: w.Duration()}, nil
}

// cleanText makes text valid UTF-8 with no control characters but newlines
// and tabs, and trims it.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// clampText cuts s to at most n runes, at the last space before the cut when
// there is one in the second half.
func clampText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if n == 0 {
			cut = i
			break
		}
		n--
	}
	s = s[:cut]
	if i := strings.LastIndexFunc(s, unicode.IsSpace); i > len(s)/2 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}
