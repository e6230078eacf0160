package script

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
)

func TestCheckKeepsEditsWithinTheNeighbours(t *testing.T) {
	t.Parallel()
	tr := func(s string) *string { return &s }
	f := func(v float64) *float64 { return &v }
	s := Script{JobID: uuid.New(), TargetLanguage: "es", Segments: []Line{
		{N: 0, Start: 0.5, End: 1.5, Text: "Hello.", Translation: tr("Hola.")},
		{N: 1, Start: 2, End: 3, Text: "Thanks.", Translation: tr("Gracias.")},
		{N: 2, Start: 3.5, End: 4, Text: "Bye.", Translation: tr("Adiós.")},
	}}
	require.NoError(t, s.Check(job.Edit{Segment: 1, Start: f(1.5), End: f(3.5)}), "up to the neighbours' bounds")
	require.NoError(t, s.Check(job.Edit{Segment: 1, Translation: tr("Muchas gracias.")}))
	for _, e := range []job.Edit{
		{Segment: 1, Start: f(1.4)},
		{Segment: 1, End: f(3.6)},
		{Segment: 1, Start: f(2.95)},
		{Segment: 0, End: f(0.55)},
	} {
		require.Equal(t, apperr.Invalid, apperr.CodeOf(s.Check(e)), "%+v", e)
	}
	require.Equal(t, apperr.NotFound, apperr.CodeOf(s.Check(job.Edit{Segment: 7, Text: tr("x")})))
	s.TargetLanguage = ""
	require.Equal(t, apperr.Invalid, apperr.CodeOf(s.Check(job.Edit{Segment: 0, Translation: tr("Hola.")})), "no translation to edit")
}

func TestSpokenAppliesEdits(t *testing.T) {
	t.Parallel()
	tr := func(s string) *string { return &s }
	s := Script{Language: "en", TargetLanguage: "es", Segments: []Line{
		{N: 0, Start: 0, End: 1, Text: "Hi.", Translation: tr("Hola."), Speaker: "Speaker 1"},
		{N: 1, Start: 1, End: 2, Text: "Yes.", Translation: tr("Sí."), Speaker: "Speaker 2"},
	}}
	edits := map[int]job.Edit{1: {Segment: 1, Translation: tr("Claro."), Voice: tr("AZnzlk1XvdvUeBnXmlld")}}
	for n, e := range edits {
		s.Segments[n].apply(e)
	}
	sp := s.Spoken(edits)
	require.Equal(t, "es", sp.Language)
	require.Equal(t, "Claro.", sp.Segments[1].Text)
	require.Equal(t, "Yes.", sp.Segments[1].Source)
	require.Equal(t, "AZnzlk1XvdvUeBnXmlld", sp.Segments[1].Voice)
	require.Empty(t, sp.Segments[0].Voice, "voices come from the speakers unless an edit chose one")
	require.Equal(t, "Speaker 2", s.Source().Segments[1].Speaker)
	require.Equal(t, "jobs/"+uuid.Nil.String()+"/synthesize/clips.json", Key(uuid.Nil, 1, "synthesize", "clips.json"))
	require.Equal(t, "jobs/"+uuid.Nil.String()+"/r3/mix/voiceover.mp4", Key(uuid.Nil, 3, "mix", "voiceover.mp4"))
}
