package speech

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/redub/redub/shared/apperr"
)

// Engine names, as Transcript.Engine reports them.
const (
	EngineOpenAI       = "openai"
	EnginePocketsphinx = "pocketsphinx"
	EngineEspeak       = "espeak-ng"
)

// DefaultModelDir is where Debian's pocketsphinx-en-us package puts the US
// English model that pocketsphinx_continuous is given.
const DefaultModelDir = "/usr/share/pocketsphinx/model/en-us"

// sampleRate is the only rate the models (and Transcriber callers) use.
const sampleRate = 16000

// Pocketsphinx is the local, offline Transcriber: CMU PocketSphinx with its
// US English model. It is fast enough (several times realtime on one core)
// but far less accurate than a paid service: good for running the pipeline
// offline, not for judging transcripts. It is safe for concurrent use.
type Pocketsphinx struct {
	bin    string
	legacy bool // pocketsphinx_continuous (5prealpha, Debian 12) rather than the pocketsphinx 5 CLI
}

// NewPocketsphinx finds the pocketsphinx command: binary when it is not
// empty (a name on PATH or a path), otherwise pocketsphinx_continuous (the
// command of Debian 12's pocketsphinx package) or, failing that, the
// pocketsphinx 5 command. A binary named pocketsphinx_continuous* is run as
// the 5prealpha CLI, any other as the pocketsphinx 5 CLI.
//
// It fails, naming the Debian package to install, when the command is not
// found or, for pocketsphinx_continuous, when the English model
// (pocketsphinx-en-us) is missing.
func NewPocketsphinx(binary string) (*Pocketsphinx, error) {
	var bin string
	var err error
	if binary != "" {
		bin, err = exec.LookPath(binary)
	} else if bin, err = exec.LookPath("pocketsphinx_continuous"); err != nil {
		bin, err = exec.LookPath("pocketsphinx")
	}
	if err != nil {
		return nil, fmt.Errorf("speech: pocketsphinx is not installed (install the Debian packages pocketsphinx and pocketsphinx-en-us): %w", err)
	}
	p := &Pocketsphinx{bin: bin, legacy: strings.HasPrefix(filepath.Base(bin), "pocketsphinx_continuous")}
	if p.legacy {
		if _, err := os.Stat(filepath.Join(DefaultModelDir, "en-us", "mdef")); err != nil {
			return nil, fmt.Errorf("speech: the pocketsphinx English model is missing (install the Debian package pocketsphinx-en-us): %w", err)
		}
	}
	return p, nil
}

var _ Transcriber = (*Pocketsphinx)(nil)

// Transcribe transcribes wavPath, which must be a 16 kHz mono 16-bit PCM WAV
// file, and groups the words into segments (see SegmentPause). language must
// be English ("", "en", "en-US", ...): other languages are refused with
// apperr.Unprocessable, and audio in another format with apperr.Invalid.
// Silence or empty audio gives no segments and no error. The usage counts
// the audio's seconds.
func (p *Pocketsphinx) Transcribe(ctx context.Context, wavPath string, req Request) (Transcript, Usage, error) {
	language := req.Language
	if !isEnglish(language) {
		return Transcript{}, Usage{}, apperr.New(apperr.Unprocessable,
			"local speech-to-text (pocketsphinx) understands only English, not %q; set OPENAI_API_KEY to transcribe other languages", language)
	}
	f, err := os.Open(wavPath)
	if err != nil {
		return Transcript{}, Usage{}, fmt.Errorf("pocketsphinx: open audio: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Transcript{}, Usage{}, fmt.Errorf("pocketsphinx: stat audio: %w", err)
	}
	w, err := ReadWAV(f, st.Size())
	if err != nil {
		return Transcript{}, Usage{}, apperr.Wrap(apperr.Invalid, err, "the audio to transcribe is not a readable WAV file")
	}
	if !w.IsPCM16Mono(sampleRate) {
		return Transcript{}, Usage{}, apperr.New(apperr.Invalid,
			"the audio to transcribe must be 16 kHz mono 16-bit PCM, not %d Hz, %d channel(s), %d-bit (format %d)",
			w.SampleRate, w.Channels, w.BitsPerSample, w.Format)
	}
	dur := w.Duration()
	tr := Transcript{Language: "en", Duration: dur, Segments: []Segment{}, Engine: EnginePocketsphinx}
	usage := Usage{AudioSeconds: dur}
	if dur < 0.1 { // shorter than the decoder's smallest utterance
		return tr, usage, nil
	}

	// The samples go through stdin as raw PCM: pocketsphinx_continuous takes
	// a file as WAV only when its name ends in .wav and its header is exactly
	// 44 bytes, which FFmpeg's (with a LIST chunk) is not. The pocketsphinx 5
	// CLI runs "live" rather than "single" so that a long recording is cut
	// into utterances at pauses instead of being decoded as one.
	args, parse := []string{"live", "-"}, parseJSONLines
	if p.legacy {
		args = []string{
			"-infile", "/dev/stdin", "-time", "yes",
			"-hmm", filepath.Join(DefaultModelDir, "en-us"),
			"-lm", filepath.Join(DefaultModelDir, "en-us.lm.bin"),
			"-dict", filepath.Join(DefaultModelDir, "cmudict-en-us.dict"),
		}
		parse = parseContinuous
	}
	var out bytes.Buffer
	if err := run(ctx, "pocketsphinx", p.bin, args, io.LimitReader(f, w.DataSize), &out); err != nil {
		return Transcript{}, Usage{}, err
	}
	words, err := parse(out.Bytes())
	if err != nil {
		return Transcript{}, Usage{}, fmt.Errorf("pocketsphinx: %w", err)
	}
	tr.Segments = groupWords(words, dur)
	return tr, usage, nil
}

// isEnglish reports whether the language tag is empty or English.
func isEnglish(lang string) bool {
	lang = strings.ToLower(strings.TrimSpace(lang))
	primary, _, _ := strings.Cut(strings.ReplaceAll(lang, "_", "-"), "-")
	return primary == "" || primary == "en" || primary == "eng" || primary == "english"
}
