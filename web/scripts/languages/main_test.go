package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
)

// The committed file is what the generator makes of today's list, and it
// names every language the API takes.
func TestLanguagesFileIsFresh(t *testing.T) {
	got := render(job.Languages())
	committed, err := os.ReadFile("../../src/api/languages.ts")
	require.NoError(t, err)
	require.Equal(t, string(got), string(committed), "run `npm run gen` in web/")
	for _, l := range job.Languages() {
		require.Contains(t, string(got), `{ code: "`+l.Code+`", name: "`+l.Name+`" }`)
	}
	require.Equal(t, len(job.Languages()), strings.Count(string(got), `{ code: "`))
}
