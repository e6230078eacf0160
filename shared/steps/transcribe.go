package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/openai"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/speech"
)

// Transcriber is an engine of the transcribe step: it turns the job's speech
// WAV into a timed transcript and says what it used (engine, seconds paid).
type Transcriber interface {
	Transcribe(ctx context.Context, sc *pipeline.Context, wav string) (speech.Transcript, map[string]any, error)
}

// Transcribe turns the speech WAV into timed segments with its engine,
// chosen at cold start (Wiring.Transcribe).
type Transcribe struct {
	*Deps
	Engine Transcriber
}

// Name implements pipeline.Step.
func (t *Transcribe) Name() string { return job.StepTranscribe }

// Work implements pipeline.Step.
func (t *Transcribe) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	sc.Progress(ctx, t.Name(), 1, "downloading")
	wav, err := t.download(ctx, SpeechKey(sc), sc.Dir, "speech.wav")
	if err != nil {
		return pipeline.Result{}, err
	}
	tr, usage, err := t.Engine.Transcribe(ctx, sc, wav)
	if err != nil {
		return pipeline.Result{}, err
	}
	if sc.Canceled(ctx) {
		return pipeline.Result{}, pipeline.ErrCanceled
	}
	outs, err := t.storeTranscript(ctx, sc, t.Name(), tr, "")
	if err != nil {
		return pipeline.Result{}, err
	}
	usage["segments"] = len(tr.Segments)
	return pipeline.Result{Outputs: outs, Usage: usage}, nil
}

// LocalTranscriber is the offline engine (pocketsphinx).
type LocalTranscriber struct{ Engine speech.Transcriber }

// Transcribe implements Transcriber.
func (l LocalTranscriber) Transcribe(ctx context.Context, sc *pipeline.Context, wav string) (speech.Transcript, map[string]any, error) {
	sc.Progress(ctx, job.StepTranscribe, 10, "transcribing (pocketsphinx)")
	tr, u, err := l.Engine.Transcribe(ctx, wav, sc.Job.Params.SourceLanguage)
	return tr, map[string]any{"engine": "pocketsphinx", "audio_seconds": u.AudioSeconds}, err
}

// OpenAITranscriber transcribes with OpenAI: the WAV is cut under the upload
// limit, each piece one ledger call, and the pieces stitched on the
// original timeline.
type OpenAITranscriber struct {
	*Deps
	Client *openai.Client
	Model  string
	// PieceBytes is the largest WAV piece sent in one request (default:
	// OpenAI's upload limit less 1 MiB).
	PieceBytes int64
}

// Transcribe implements Transcriber.
func (t *OpenAITranscriber) Transcribe(ctx context.Context, sc *pipeline.Context, wav string) (speech.Transcript, map[string]any, error) {
	limit := t.PieceBytes
	if limit == 0 {
		limit = openai.MaxUploadBytes - 1<<20
	}
	chunks, err := media.SplitWAV(ctx, wav, sc.Dir, limit)
	if err != nil {
		return speech.Transcript{}, nil, err
	}
	out, seconds, err := stitch(ctx, chunks, func(ctx context.Context, i int, c media.Chunk) (openai.Transcript, bool, error) {
		if sc.Canceled(ctx) {
			return openai.Transcript{}, false, pipeline.ErrCanceled
		}
		sc.Progress(ctx, job.StepTranscribe, 5+90*float64(i)/float64(len(chunks)), fmt.Sprintf("transcribing part %d of %d", i+1, len(chunks)))
		sum, err := fileSHA256(c.Path)
		if err != nil {
			return openai.Transcript{}, false, err
		}
		call := ledger.Call{Provider: "openai", Operation: "transcribe", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: job.StepTranscribe,
			Request: map[string]any{"model": t.Model, "language": sc.Job.Params.SourceLanguage, "audio_sha256": sum}}
		o, err := t.Ledger.Do(ctx, call, func(ctx context.Context) (ledger.Outcome, error) {
			tr, u, err := t.Client.Transcribe(ctx, c.Path, openai.TranscribeRequest{Model: t.Model, Language: sc.Job.Params.SourceLanguage})
			if err != nil {
				return ledger.Outcome{}, err
			}
			res, _ := json.Marshal(tr)
			us, _ := json.Marshal(u)
			return ledger.Outcome{Result: res, Usage: us}, nil
		})
		if err != nil {
			return openai.Transcript{}, false, err
		}
		var part openai.Transcript
		if err := json.Unmarshal(o.Result, &part); err != nil {
			return part, false, fmt.Errorf("decode stored transcript: %w", err)
		}
		return part, o.Reused, nil
	})
	if err != nil {
		return out, nil, err
	}
	return out, map[string]any{"engine": "openai", "model": t.Model, "audio_seconds": seconds, "pieces": len(chunks)}, nil
}

// stitch transcribes the pieces in order and joins their segments on the
// original timeline: each piece's times are shifted by where it starts, and
// ids run on. It returns the transcript and the seconds actually paid for
// (pieces the ledger reused cost nothing).
func stitch(ctx context.Context, chunks []media.Chunk, transcribe func(ctx context.Context, i int, c media.Chunk) (openai.Transcript, bool, error)) (speech.Transcript, float64, error) {
	out := speech.Transcript{Engine: "openai"}
	paid := 0.0
	for i, c := range chunks {
		part, reused, err := transcribe(ctx, i, c)
		if err != nil {
			return out, 0, err
		}
		offset := c.Start.Seconds()
		for _, s := range part.Segments {
			out.Segments = append(out.Segments, speech.Segment{ID: len(out.Segments), Start: s.Start + offset, End: s.End + offset, Text: s.Text})
		}
		if out.Language == "" {
			out.Language = part.Language
		}
		out.Duration = offset + part.Duration
		if !reused {
			paid += part.Duration
		}
	}
	return out, paid, nil
}

// storeTranscript writes transcript.json, SRT and WebVTT for a step.
func (d *Deps) storeTranscript(ctx context.Context, sc *pipeline.Context, step string, tr speech.Transcript, lang string) ([]pipeline.Output, error) {
	suffix := ""
	if lang != "" {
		suffix = "." + lang
	}
	name := baseName(sc.Filename)
	b, err := json.MarshalIndent(tr, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode transcript: %w", err)
	}
	segs := make([]captions.Segment, len(tr.Segments))
	for i, s := range tr.Segments {
		segs[i] = captions.Segment{ID: s.ID, Start: s.Start, End: s.End, Text: s.Text}
	}
	files := []struct {
		file, kind, filename, ctype string
		body                        []byte
	}{
		{"transcript.json", "transcript" + suffix, name + suffix + ".json", "application/json", b},
		{"captions.srt", "srt" + suffix, name + suffix + ".srt", "application/x-subrip", captions.SRT(segs)},
		{"captions.vtt", "vtt" + suffix, name + suffix + ".vtt", "text/vtt", captions.WebVTT(segs)},
	}
	outs := make([]pipeline.Output, 0, len(files))
	for _, f := range files {
		key := sc.Key(step, f.file)
		if err := d.putBytes(ctx, key, f.ctype, f.body); err != nil {
			return nil, err
		}
		outs = append(outs, pipeline.Output{Kind: f.kind, Key: key, Filename: f.filename, ContentType: f.ctype, SizeBytes: int64(len(f.body))})
	}
	return outs, nil
}

// loadTranscript reads the newest transcript of a job: translated when the job translates.
func (d *Deps) loadTranscript(ctx context.Context, sc *pipeline.Context) (speech.Transcript, error) {
	step := job.StepTranscribe
	if sc.Job.Params.TargetLanguage != "" {
		step = job.StepTranslate
	}
	b, err := d.getBytes(ctx, sc.Key(step, "transcript.json"))
	if err != nil {
		return speech.Transcript{}, err
	}
	var tr speech.Transcript
	if err := json.Unmarshal(b, &tr); err != nil {
		return tr, fmt.Errorf("decode transcript: %w", err)
	}
	return tr, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
