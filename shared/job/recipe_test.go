package job_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
)

func TestSpeechParams(t *testing.T) {
	t.Parallel()
	ok := `{"num_speakers":2,"keyterms":[" redub ","Scribe"],"voices":{"Speaker 1":"21m00Tcm4TlvDq8ikWAM","Speaker 2":"AZnzlk1XvdvUeBnXmlld"},"clone_voices":true,"clone_consent":true}`
	p, err := job.ParseParams(job.Voiceover, json.RawMessage(ok))
	require.NoError(t, err)
	require.Equal(t, 2, p.NumSpeakers)
	require.Equal(t, []string{"redub", "Scribe"}, p.Keyterms)
	require.Equal(t, "AZnzlk1XvdvUeBnXmlld", p.Voices["Speaker 2"])

	many := make([]string, 101)
	for i := range many {
		many[i] = "term"
	}
	manyJSON, _ := json.Marshal(map[string]any{"keyterms": many})
	for _, tt := range []struct {
		recipe job.Recipe
		raw    string
		field  string
	}{
		{job.Voiceover, `{"num_speakers":33}`, "params.num_speakers"},
		{job.Captions, string(manyJSON), "params.keyterms"},
		{job.Captions, `{"keyterms":["` + strings.Repeat("x", 51) + `"]}`, "params.keyterms"},
		{job.Voiceover, `{"voices":{"Bob":"21m00Tcm4TlvDq8ikWAM"}}`, "params.voices"},
		{job.Voiceover, `{"voices":{"Speaker 1":"no spaces please"}}`, "params.voices"},
		{job.Captions, `{"voices":{"Speaker 1":"21m00Tcm4TlvDq8ikWAM"}}`, "params"},
		{job.Voiceover, `{"clone_voices":true}`, "params.clone_consent"},
		{job.Transcode, `{"num_speakers":2}`, "params"},
	} {
		_, err := job.ParseParams(tt.recipe, json.RawMessage(tt.raw))
		var ae *apperr.Error
		require.ErrorAs(t, err, &ae, tt.raw)
		require.Equal(t, apperr.Invalid, ae.Code, tt.raw)
		require.Equal(t, tt.field, ae.Field, tt.raw)
	}
}
