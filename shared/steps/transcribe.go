package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/redub/redub/shared/captions"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/speech"
)

// Engine is the transcribe step's speech.Transcriber with what the step
// needs to know about it: its name and model (for usage and the ledger),
// whether it is paid (each piece then goes through the ledger), and the
// largest piece it takes in one request.
type Engine struct {
	Name, Model string
	Paid        bool
	// PieceBytes is the largest WAV piece sent in one request; 0 sends the
	// whole file.
	PieceBytes int64
	// Concurrency is how many pieces are transcribed at once (the
	// provider's OPENAI_CONCURRENCY or ELEVENLABS_CONCURRENCY, or
	// LOCAL_SPEECH_CONCURRENCY); 0 means one at a time.
	Concurrency int
	Transcriber speech.Transcriber
}

// Transcribe turns the speech WAV into timed segments (with speakers when
// the engine tells them apart) with its engine, chosen at cold start
// (Wiring.Transcribe from TRANSCRIBE_ENGINE).
type Transcribe struct {
	*Deps
	Engine Engine
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
	tr, usage, err := t.transcribe(ctx, sc, wav)
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
	usage["speakers"] = len(speech.Speakers(tr.Segments))
	return pipeline.Result{Outputs: outs, Usage: usage}, nil
}

// transcribe runs the engine on the WAV, cut under the engine's upload limit:
// each piece of a paid engine is one ledger call (a retry after a failure
// in piece n reuses pieces 1..n-1), and the pieces are stitched on the
// original timeline.
func (t *Transcribe) transcribe(ctx context.Context, sc *pipeline.Context, wav string) (speech.Transcript, map[string]any, error) {
	e := t.Engine
	p := sc.Job.Params
	req := speech.Request{Language: p.SourceLanguage, NumSpeakers: p.NumSpeakers, Keyterms: p.Keyterms}
	chunks := []media.Chunk{{Path: wav}}
	if e.PieceBytes > 0 {
		var err error
		if chunks, err = media.SplitWAV(ctx, wav, sc.Dir, e.PieceBytes); err != nil {
			return speech.Transcript{}, nil, err
		}
	}
	var done atomic.Int64
	out, seconds, err := stitch(ctx, chunks, e.Concurrency, func(ctx context.Context, i int, c media.Chunk) (speech.Transcript, bool, error) {
		if sc.Canceled(ctx) {
			return speech.Transcript{}, false, pipeline.ErrCanceled
		}
		defer done.Add(1)
		stage := fmt.Sprintf("transcribing (%s)", e.Name)
		if len(chunks) > 1 {
			stage = fmt.Sprintf("transcribing part %d of %d (%s)", i+1, len(chunks), e.Name)
		}
		sc.Progress(ctx, job.StepTranscribe, 5+90*float64(done.Load())/float64(len(chunks)), stage)
		if !e.Paid {
			tr, _, err := e.Transcriber.Transcribe(ctx, c.Path, req)
			return tr, false, err
		}
		sum, err := fileSHA256(c.Path)
		if err != nil {
			return speech.Transcript{}, false, err
		}
		request := map[string]any{"engine": e.Name, "model": e.Model, "language": req.Language, "audio_sha256": sum}
		if req.NumSpeakers > 0 {
			request["num_speakers"] = req.NumSpeakers
		}
		if len(req.Keyterms) > 0 {
			request["keyterms"] = req.Keyterms
		}
		call := ledger.Call{Provider: e.Name, Operation: "transcribe", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: job.StepTranscribe, Request: request}
		o, err := t.Ledger.Do(ctx, call, func(ctx context.Context) (ledger.Outcome, error) {
			tr, u, err := e.Transcriber.Transcribe(ctx, c.Path, req)
			if err != nil {
				return ledger.Outcome{}, err
			}
			res, _ := json.Marshal(tr)
			us, _ := json.Marshal(u)
			return ledger.Outcome{Result: res, Usage: us}, nil
		})
		if err != nil {
			return speech.Transcript{}, false, err
		}
		var part speech.Transcript
		if err := json.Unmarshal(o.Result, &part); err != nil {
			return part, false, fmt.Errorf("decode stored transcript: %w", err)
		}
		return part, o.Reused, nil
	})
	if err != nil {
		return out, nil, err
	}
	out.Engine = e.Name
	usage := map[string]any{"engine": e.Name, "pieces": len(chunks)}
	if e.Model != "" {
		usage["model"] = e.Model
	}
	if e.Paid {
		usage["audio_seconds"] = seconds
	} else {
		usage["audio_seconds"] = out.Duration
	}
	return out, usage, nil
}

// stitch transcribes the pieces, limit at a time, and joins their segments
// in the pieces' order on the original timeline: each piece's times
// (segments and words) are shifted by where it starts, and ids run on. The
// result is the same whatever order the pieces finish in. It returns the
// transcript and the seconds actually paid for (pieces the ledger reused
// cost nothing).
func stitch(ctx context.Context, chunks []media.Chunk, limit int, transcribe func(ctx context.Context, i int, c media.Chunk) (speech.Transcript, bool, error)) (speech.Transcript, float64, error) {
	out := speech.Transcript{Segments: []speech.Segment{}}
	type piece struct {
		tr     speech.Transcript
		reused bool
	}
	pieces := make([]piece, len(chunks))
	err := inParallel(ctx, limit, len(chunks), func(ctx context.Context, i int) error {
		tr, reused, err := transcribe(ctx, i, chunks[i])
		pieces[i] = piece{tr, reused}
		return err
	})
	if err != nil {
		return out, 0, err
	}
	paid := 0.0
	for i, c := range chunks {
		part, reused := pieces[i].tr, pieces[i].reused
		offset := c.Start.Seconds()
		for _, s := range part.Segments {
			s.ID = len(out.Segments)
			s.Start += offset
			s.End += offset
			words := make([]speech.Word, len(s.Words))
			for j, w := range s.Words {
				w.Start += offset
				w.End += offset
				words[j] = w
			}
			if len(words) > 0 {
				s.Words = words
			}
			out.Segments = append(out.Segments, s)
		}
		if out.Language == "" {
			out.Language = part.Language
		}
		out.Engine = part.Engine
		out.Duration = offset + part.Duration
		if !reused {
			paid += part.Duration
		}
	}
	return out, paid, nil
}

// storeTranscript writes transcript.json, SRT and WebVTT for a step.
func (d *Deps) storeTranscript(ctx context.Context, sc *pipeline.Context, step string, tr speech.Transcript, lang string) ([]pipeline.Output, error) {
	return d.storeTranscriptAt(ctx, sc, func(file string) string { return sc.Key(step, file) }, tr, lang)
}

// storeTranscriptAt is storeTranscript with the files' keys from keyOf.
func (d *Deps) storeTranscriptAt(ctx context.Context, sc *pipeline.Context, keyOf func(file string) string, tr speech.Transcript, lang string) ([]pipeline.Output, error) {
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
		segs[i] = captions.Segment{ID: s.ID, Start: s.Start, End: s.End, Text: s.Text, Speaker: s.Speaker}
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
		key := keyOf(f.file)
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
