package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/redub/redub/shared/elevenlabs"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/script"
	"github.com/redub/redub/shared/speech"
)

// Voicer is an engine of the synthesize step: it speaks one segment and
// stores the clip at key (or says where the clip it reused is), reporting
// whether the segment was paid for.
type Voicer interface {
	Voice(ctx context.Context, sc *pipeline.Context, l Line, key string) (clip string, paid bool, err error)
}

// Line is one segment to speak, with its neighbours for prosody.
type Line struct {
	Text, Previous, Next, Voice, Language string
}

// Synthesize speaks every segment with the new voice through its engine
// (ElevenLabs or espeak-ng, chosen at cold start: Wiring.Synthesize). Clips
// are stored as jobs/<job>/synthesize/seg-NNNN.<ext>.
type Synthesize struct {
	*Deps
	Engine     Voicer
	Ext        string   // the clips' extension: "mp3" (ElevenLabs) or "wav" (espeak-ng)
	Voice      string   // default voice when the job names none
	Voices     []string // voices handed to speakers the job does not map (ELEVENLABS_VOICES, or espeak-ng's variants)
	EngineName string   // for the step's usage: "elevenlabs" or "espeak-ng"
	// Concurrency is how many segments are voiced at once
	// (ELEVENLABS_CONCURRENCY, or LOCAL_SPEECH_CONCURRENCY for espeak-ng);
	// 0 means one at a time. The clips and the manifest do not depend on it.
	Concurrency int
	// Shortener rewrites a translated line that would need more than
	// speech.TempoBound to fit its slot, once; nil never rewrites.
	Shortener Shortener
	// Cloner makes and deletes instant voice clones (ElevenLabs); nil when
	// the engine cannot clone, and a job that asks for clones then fails
	// with that reason.
	Cloner Cloner
}

// Name implements pipeline.Step.
func (s *Synthesize) Name() string { return job.StepSynthesize }

// SpokenFile is the synthesize step's record of the transcript it spoke
// (shortened lines included), which mix captions.
const SpokenFile = "spoken.json"

// Clip is one synthesized segment, as the manifest records it.
type Clip = script.Clip

// Work implements pipeline.Step.
//
// Revision 2 and later (a re-render) speak the job's script with its edits
// (script.Spoken) and voice again only the segments whose text, voice or
// times differ from the previous revision's clips; the others keep their
// clips, at no cost. Speakers keep the voices they had.
func (s *Synthesize) Work(ctx context.Context, sc *pipeline.Context) (pipeline.Result, error) {
	rev := max(sc.Job.Revision, 1)
	var (
		tr   speech.Transcript
		prev map[int]Clip
		err  error
	)
	if rev > 1 {
		tr, prev, err = s.revisionScript(ctx, sc)
	} else {
		tr, err = s.loadTranscript(ctx, sc)
	}
	if err != nil {
		return pipeline.Result{}, err
	}
	first := sc.Job.Params.Voice
	if first == "" {
		first = s.Voice
	}
	speakers := speech.Speakers(tr.Segments)
	mapped := map[string]string{}
	for _, c := range prev {
		if c.Speaker != "" && c.Voice != "" {
			mapped[c.Speaker] = c.Voice // a re-render keeps each speaker's voice
		}
	}
	for sp, v := range sc.Job.Params.Voices {
		mapped[sp] = v
	}
	if sc.Job.Params.CloneVoices {
		clones, cleanup, err := s.cloneVoices(ctx, sc, tr, speakers)
		defer cleanup()
		if err != nil {
			return pipeline.Result{}, err
		}
		for sp, v := range mapped {
			clones[sp] = v // a voice the caller named (or a re-render kept) wins over a clone
		}
		mapped = clones
	}
	voices := AssignVoices(speakers, mapped, first, s.Voices)
	if v := mapped[""]; v != "" {
		voices[""] = v // the clone of an undiarized transcript's one voice
	}
	v := &voicing{sc: sc, tr: tr, rev: rev, first: first, voices: voices, prev: prev}
	results := make([]voiced, len(tr.Segments))
	err = inParallel(ctx, s.Concurrency, len(tr.Segments), func(ctx context.Context, i int) error {
		if sc.Canceled(ctx) {
			return pipeline.ErrCanceled
		}
		defer v.done.Add(1)
		r, err := s.voiceSegment(ctx, v, i)
		results[i] = r
		return err
	})
	if err != nil {
		return pipeline.Result{}, err
	}
	// Put together in the segments' order, whatever order they finished in.
	var clips []Clip
	chars, paid, reused, kept, shortened, shortenCalls := 0, 0, 0, 0, 0, 0
	for i, r := range results {
		if r.clip == nil {
			continue
		}
		clips = append(clips, *r.clip)
		chars, paid, reused, shortenCalls = chars+r.chars, paid+r.paid, reused+r.reused, shortenCalls+r.shortenCalls
		if r.kept {
			kept++
		}
		if r.shortened {
			shortened++
			tr.Segments[i].Text = r.short
		}
	}
	manifest, err := json.Marshal(clips)
	if err != nil {
		return pipeline.Result{}, fmt.Errorf("encode clips: %w", err)
	}
	if err := s.putBytes(ctx, script.Key(sc.Job.ID, rev, s.Name(), "clips.json"), "application/json", manifest); err != nil {
		return pipeline.Result{}, err
	}
	// What was spoken, shortened lines included: mix captions it.
	spoken, err := json.Marshal(tr)
	if err != nil {
		return pipeline.Result{}, fmt.Errorf("encode spoken transcript: %w", err)
	}
	if err := s.putBytes(ctx, script.Key(sc.Job.ID, rev, s.Name(), SpokenFile), "application/json", spoken); err != nil {
		return pipeline.Result{}, err
	}
	engine := s.EngineName
	return pipeline.Result{Usage: map[string]any{"engine": engine, "characters": chars, "paid_calls": paid, "reused_calls": reused, "clips": len(clips),
		"speakers": len(speakers), "voices": len(distinct(voices)), "revision": rev, "kept_clips": kept,
		"shortened": shortened, "shorten_calls": shortenCalls}}, nil
}

// voicing is what the segments of one synthesize run share while they are
// voiced in parallel; none of it changes until they are all done.
type voicing struct {
	sc     *pipeline.Context
	tr     speech.Transcript
	rev    int
	first  string            // the job's voice
	voices map[string]string // speaker -> voice
	prev   map[int]Clip      // the previous revision's clips, by segment
	done   atomic.Int64      // segments finished, for progress
}

// voiced is one segment's outcome: its clip (nil for an empty line) and
// what it cost.
type voiced struct {
	clip                              *Clip
	kept, shortened                   bool
	short                             string // the shortened line, when shortened
	chars, paid, reused, shortenCalls int
}

// voiceSegment speaks segment i: it keeps the previous revision's clip when
// nothing changed, else voices the line, and shortens a translated line
// that would need more than speech.TempoBound once. Its neighbours, for
// prosody, are the transcript's lines as they were before any shortening,
// so no segment depends on another's outcome.
func (s *Synthesize) voiceSegment(ctx context.Context, v *voicing, i int) (voiced, error) {
	segs := v.tr.Segments
	seg, n := segs[i], len(segs)
	progress := func() float64 { return 100 * float64(v.done.Load()) / float64(max(n, 1)) }
	v.sc.Progress(ctx, s.Name(), progress(), fmt.Sprintf("voicing segment %d of %d", i+1, n))
	text := strings.TrimSpace(seg.Text)
	if text == "" {
		return voiced{}, nil
	}
	prevText, next := "", ""
	if i > 0 {
		prevText = segs[i-1].Text
	}
	if i+1 < n {
		next = segs[i+1].Text
	}
	voice := v.first
	if x, ok := v.voices[seg.Speaker]; ok {
		voice = x
	}
	if seg.Voice != "" {
		voice = seg.Voice // an edit chose this segment's voice
	}
	if old, ok := v.prev[seg.ID]; ok && old.Text == text && old.Voice == voice && old.Start == seg.Start && old.End == seg.End {
		return voiced{clip: &old, kept: true}, nil // unchanged since the previous revision: its clip stands
	}
	sc, lang := v.sc, v.tr.Language
	line := Line{Text: text, Previous: prevText, Next: next, Voice: voice, Language: lang}
	key, wasPaid, err := s.Engine.Voice(ctx, sc, line, script.Key(sc.Job.ID, v.rev, s.Name(), fmt.Sprintf("seg-%04d.%s", seg.ID, s.Ext)))
	if err != nil {
		return voiced{}, err
	}
	var r voiced
	if wasPaid {
		r.paid++
		r.chars += len([]rune(text))
	} else {
		r.reused++
	}
	// The clip's length goes into the manifest, so mix need not probe it.
	seconds, err := s.clipSeconds(ctx, sc, key)
	if err != nil {
		return voiced{}, err
	}
	if s.Shortener != nil && sc.Job.Params.TargetLanguage != "" {
		slot := seg.End - seg.Start
		tempo := 1.0
		if slot > 0 {
			tempo = seconds / slot
		}
		if tempo > speech.TempoBound {
			// Aim a little under the slot itself (a clip's own silence
			// does not shrink with its text), so the new line needs no
			// speed-up.
			budget := max(8, min(speech.CharBudget(lang, slot), int(0.9*float64(len([]rune(text)))/tempo)))
			sc.Progress(ctx, s.Name(), progress(),
				fmt.Sprintf("shortening line %d of %d: it needs %.2fx tempo, more than %.2fx", i+1, n, tempo, speech.TempoBound))
			short, shortPaid, err := s.Shortener.Shorten(ctx, sc, speech.Segment{ID: seg.ID, Start: seg.Start, End: seg.End, Text: text}, budget, lang)
			if err != nil {
				return voiced{}, err
			}
			if short = strings.TrimSpace(short); short != "" && short != text {
				if shortPaid {
					r.shortenCalls++
				}
				text, line.Text = short, short
				// Its own key: the ledger's record of the long line
				// still points at the long line's clip.
				shortKey := script.Key(sc.Job.ID, v.rev, s.Name(), fmt.Sprintf("seg-%04d-short.%s", seg.ID, s.Ext))
				if key, wasPaid, err = s.Engine.Voice(ctx, sc, line, shortKey); err != nil {
					return voiced{}, err
				}
				if wasPaid {
					r.paid++
					r.chars += len([]rune(text))
				}
				r.shortened, r.short = true, short
				if seconds, err = s.clipSeconds(ctx, sc, key); err != nil {
					return voiced{}, err
				}
			}
		}
	}
	r.clip = &Clip{ID: seg.ID, Start: seg.Start, End: seg.End, Key: key, Speaker: seg.Speaker, Voice: voice, Text: text, Duration: seconds}
	return r, nil
}

// AssignVoices gives each speaker (in order of first appearance) a voice:
// the one mapped gives it, else the first of first, pool... not yet taken
// by another speaker, so speakers sound different while voices last; when
// they run out, voices are reused in turn.
func AssignVoices(speakers []string, mapped map[string]string, first string, pool []string) map[string]string {
	out := map[string]string{}
	used := map[string]bool{}
	for _, sp := range speakers {
		if v, ok := mapped[sp]; ok && v != "" {
			out[sp] = v
			used[v] = true
		}
	}
	var candidates []string
	for _, v := range append([]string{first}, pool...) {
		if v != "" && !slices.Contains(candidates, v) {
			candidates = append(candidates, v)
		}
	}
	turn := 0
	for _, sp := range speakers {
		if _, ok := out[sp]; ok {
			continue
		}
		i := slices.IndexFunc(candidates, func(v string) bool { return !used[v] })
		switch {
		case i >= 0:
			out[sp] = candidates[i]
			used[candidates[i]] = true
		case len(candidates) > 0:
			out[sp] = candidates[turn%len(candidates)]
			turn++
		default:
			out[sp] = first
		}
	}
	return out
}

func distinct(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for _, v := range m {
		out[v] = true
	}
	return out
}

// ElevenLabsVoicer speaks through ElevenLabs, each segment one ledger call.
type ElevenLabsVoicer struct {
	*Deps
	Client *elevenlabs.Client
	Model  string
}

// Voice implements Voicer.
func (e *ElevenLabsVoicer) Voice(ctx context.Context, sc *pipeline.Context, l Line, key string) (string, bool, error) {
	call := ledger.Call{Provider: "elevenlabs", Operation: "tts", UserID: sc.Job.UserID, JobID: sc.Job.ID, Step: job.StepSynthesize,
		Request: map[string]any{"voice": l.Voice, "model": e.Model, "text": l.Text, "previous": l.Previous, "next": l.Next}}
	// The ledger records the paid call before it stores the audio, so a
	// storage failure after the provider charged is not a second charge.
	o, err := e.Ledger.Do(ctx, call, func(ctx context.Context) (ledger.Outcome, error) {
		audio, u, err := e.Client.Synthesize(ctx, elevenlabs.SpeechRequest{VoiceID: l.Voice, ModelID: e.Model,
			Text: l.Text, PreviousText: l.Previous, NextText: l.Next})
		if err != nil {
			return ledger.Outcome{}, err
		}
		us, _ := json.Marshal(u)
		return ledger.Outcome{ResultKey: key, Body: audio, ContentType: "audio/mpeg", Usage: us}, nil
	})
	if err != nil {
		return "", false, err
	}
	if o.Reused && o.ResultKey != key {
		// Another job of this user paid for it: keep a copy under this job,
		// which outlives that job's deletion.
		if err := e.Objects.Copy(ctx, o.ResultKey, key, 0, ""); err != nil {
			return "", false, fmt.Errorf("copy reused clip: %w", err)
		}
	}
	return key, !o.Reused, nil
}

// LocalVoicer speaks offline (espeak-ng).
type LocalVoicer struct {
	*Deps
	Engine speech.Synthesizer
}

// Voice implements Voicer.
func (v *LocalVoicer) Voice(ctx context.Context, _ *pipeline.Context, l Line, key string) (string, bool, error) {
	audio, format, _, err := v.Engine.Synthesize(ctx, speech.SpeechRequest{Text: l.Text, Voice: l.Voice, Language: l.Language,
		PreviousText: l.Previous, NextText: l.Next})
	if err != nil {
		return "", false, err
	}
	if err := v.putBytes(ctx, key, "audio/"+format, audio); err != nil {
		return "", false, err
	}
	return key, true, nil
}

// revisionScript is what a re-render speaks: the job's script with its
// edits, and the clips of the revision before, by segment.
func (s *Synthesize) revisionScript(ctx context.Context, sc *pipeline.Context) (speech.Transcript, map[int]Clip, error) {
	sp, edits, err := s.script(ctx, sc)
	if err != nil {
		return speech.Transcript{}, nil, err
	}
	clips, _, err := script.LatestClips(ctx, s.Objects, sc.Job.ID, sc.Job.Revision-1)
	if err != nil {
		return speech.Transcript{}, nil, err
	}
	prev := make(map[int]Clip, len(clips))
	for _, c := range clips {
		prev[c.ID] = c
	}
	return sp.Spoken(edits), prev, nil
}
