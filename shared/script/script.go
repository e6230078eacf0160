// Package script is the editable script of a voiceover job: its segments
// with speaker, times, source text, translation and voice, as the latest
// revision renders them with the user's edits applied. GET
// /jobs/{id}/transcript shows it, PATCH /jobs/{id}/segments/{n} checks edits
// against it, and the synthesize and mix steps of a re-render (revision 2
// and later) speak and caption it.
//
// It reads the transcripts and clip manifests the steps stored; the edits
// come from shared/job, which owns them.
package script

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/speech"
	"github.com/redub/redub/shared/storage"
)

// Key is where a step of a job's revision keeps a file: the step's usual
// key for revision 1, jobs/<job>/r<n>/<step>/<name> after.
func Key(jobID uuid.UUID, revision int, step, name string) string {
	if revision <= 1 {
		return storage.JobKey(jobID, step, name)
	}
	return storage.JobPrefix(jobID) + fmt.Sprintf("r%d/", revision) + step + "/" + name
}

// Objects reads stored files.
type Objects interface {
	Get(ctx context.Context, key string) (io.ReadCloser, storage.Object, error)
}

// Clip is one synthesized segment as the synthesize step's manifest
// (clips.json) records it.
type Clip struct {
	ID      int     `json:"id"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Key     string  `json:"key"`
	Speaker string  `json:"speaker,omitempty"`
	Voice   string  `json:"voice,omitempty"`
	Text    string  `json:"text,omitempty"`
	// Duration is the clip's length in seconds, measured by synthesize;
	// 0 (a manifest written before it was recorded): mix probes the clip.
	Duration float64 `json:"duration,omitempty"`
}

// Line is one segment of the script.
type Line struct {
	N           int     `json:"n"`
	Speaker     string  `json:"speaker"`
	Start       float64 `json:"start"`
	End         float64 `json:"end"`
	Text        string  `json:"text"`        // what was said (source language)
	Translation *string `json:"translation"` // what is spoken instead; nil when the job does not translate
	Voice       string  `json:"voice"`       // the voice that speaks it ("" until synthesized)
	Edited      bool    `json:"edited"`
}

// Script is a job's script.
type Script struct {
	JobID          uuid.UUID `json:"job_id"`
	Revision       int       `json:"revision"`
	Language       string    `json:"language"`                  // the source language
	TargetLanguage string    `json:"target_language,omitempty"` // "" when the job does not translate
	Segments       []Line    `json:"segments"`
}

// Load builds the script of j: the transcribe step's transcript, the
// translate step's when the job translates, the voices of the newest
// revision that has a clip manifest, then edits applied. A job whose
// transcript is not stored yet is a Conflict.
func Load(ctx context.Context, objs Objects, j job.Job, edits map[int]job.Edit) (Script, error) {
	var src speech.Transcript
	if err := readJSON(ctx, objs, storage.JobKey(j.ID, job.StepTranscribe, "transcript.json"), &src); err != nil {
		if notFound(err) {
			return Script{}, apperr.New(apperr.Conflict, "job %s has no transcript yet", j.ID)
		}
		return Script{}, err
	}
	s := Script{JobID: j.ID, Revision: max(j.Revision, 1), Language: src.Language, TargetLanguage: j.Params.TargetLanguage}
	var translated map[int]string
	if j.Params.TargetLanguage != "" {
		var tr speech.Transcript
		if err := readJSON(ctx, objs, storage.JobKey(j.ID, job.StepTranslate, "transcript.json"), &tr); err != nil && !notFound(err) {
			return Script{}, err
		}
		translated = make(map[int]string, len(tr.Segments))
		for _, seg := range tr.Segments {
			translated[seg.ID] = seg.Text
		}
	}
	voices := map[int]string{}
	if clips, _, err := LatestClips(ctx, objs, j.ID, s.Revision); err == nil {
		for _, c := range clips {
			voices[c.ID] = c.Voice
			if translated != nil && c.Text != "" {
				translated[c.ID] = c.Text // what was spoken: a line shortened to fit its slot stays shortened
			}
		}
	} else if !notFound(err) {
		return Script{}, err
	}
	for _, seg := range src.Segments {
		l := Line{N: seg.ID, Speaker: seg.Speaker, Start: seg.Start, End: seg.End, Text: seg.Text, Voice: voices[seg.ID]}
		if translated != nil {
			t := translated[seg.ID]
			l.Translation = &t
		}
		if e, ok := edits[seg.ID]; ok {
			l.apply(e)
		}
		s.Segments = append(s.Segments, l)
	}
	return s, nil
}

// Apply returns l with e's fields applied, and whether anything was set.
func Apply(l Line, e job.Edit) (Line, bool) {
	before := l
	l.apply(e)
	return l, l != before
}

func (l *Line) apply(e job.Edit) {
	l.Edited = true
	if e.Text != nil {
		l.Text = *e.Text
	}
	if e.Translation != nil && l.Translation != nil {
		t := *e.Translation
		l.Translation = &t
	}
	if e.Speaker != nil {
		l.Speaker = *e.Speaker
	}
	if e.Voice != nil {
		l.Voice = *e.Voice
	}
	if e.Start != nil {
		l.Start = *e.Start
	}
	if e.End != nil {
		l.End = *e.End
	}
}

// Check refuses an edit that does not fit s: a segment that does not
// exist, a translation of a job that does not translate, empty text, or
// times outside the segment's neighbours (a segment starts at or after the
// previous one's end and ends at or before the next one's start, and is at
// least 0.1 s long).
func (s Script) Check(e job.Edit) error {
	i := -1
	for k, l := range s.Segments {
		if l.N == e.Segment {
			i = k
		}
	}
	if i < 0 {
		return apperr.New(apperr.NotFound, "job %s has no segment %d", s.JobID, e.Segment)
	}
	if e.Translation != nil && s.TargetLanguage == "" {
		return apperr.InvalidField("translation", "this job does not translate; edit text instead")
	}
	l := s.Segments[i]
	l.apply(e)
	if l.Translation != nil && *l.Translation == "" || l.Text == "" {
		return apperr.InvalidField("text", "a segment's text cannot be empty")
	}
	lo, hi := 0.0, math.Inf(1)
	if i > 0 {
		lo = s.Segments[i-1].End
	}
	if i+1 < len(s.Segments) {
		hi = s.Segments[i+1].Start
	}
	if l.Start < lo-0.0005 || l.End > hi+0.0005 || l.End-l.Start < 0.1 {
		return apperr.InvalidField("start", "segment %d must stay within %.3f-%.3f s (its neighbours) and last at least 0.1 s; it would be %.3f-%.3f s",
			e.Segment, lo, hi, l.Start, l.End)
	}
	return nil
}

// Spoken is the transcript that a revision speaks: each segment's
// translation (or text when the job does not translate), with its speaker,
// times and source text, and Voice set only where an edit chose one.
func (s Script) Spoken(edits map[int]job.Edit) speech.Transcript {
	lang := s.Language
	if s.TargetLanguage != "" {
		lang = s.TargetLanguage
	}
	tr := speech.Transcript{Language: lang, Segments: make([]speech.Segment, 0, len(s.Segments))}
	for _, l := range s.Segments {
		seg := speech.Segment{ID: l.N, Start: l.Start, End: l.End, Text: l.Text, Speaker: l.Speaker}
		if l.Translation != nil {
			seg.Text, seg.Source = *l.Translation, l.Text
		}
		if e, ok := edits[l.N]; ok && e.Voice != nil {
			seg.Voice = *e.Voice
		}
		tr.Segments = append(tr.Segments, seg)
		tr.Duration = max(tr.Duration, l.End)
	}
	return tr
}

// Source is the transcript in the source language, edits applied.
func (s Script) Source() speech.Transcript {
	tr := speech.Transcript{Language: s.Language, Segments: make([]speech.Segment, 0, len(s.Segments))}
	for _, l := range s.Segments {
		tr.Segments = append(tr.Segments, speech.Segment{ID: l.N, Start: l.Start, End: l.End, Text: l.Text, Speaker: l.Speaker})
	}
	return tr
}

// LatestClips reads the clip manifest of the newest revision up to
// revision that has one, and says which revision that is.
func LatestClips(ctx context.Context, objs Objects, jobID uuid.UUID, revision int) ([]Clip, int, error) {
	for r := revision; r >= 1; r-- {
		var clips []Clip
		err := readJSON(ctx, objs, Key(jobID, r, job.StepSynthesize, "clips.json"), &clips)
		if err == nil {
			return clips, r, nil
		}
		if !notFound(err) {
			return nil, 0, err
		}
	}
	return nil, 0, apperr.New(apperr.NotFound, "job %s has no synthesized clips", jobID)
}

func notFound(err error) bool { return apperr.CodeOf(err) == apperr.NotFound }

func readJSON(ctx context.Context, objs Objects, key string, v any) error {
	body, _, err := objs.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}
