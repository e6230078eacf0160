package steps

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/pipeline"
)

func TestMixParts(t *testing.T) {
	t.Parallel()
	ctx := func(d time.Duration) *pipeline.Context {
		b, err := json.Marshal(media.Info{Duration: d})
		require.NoError(t, err)
		return &pipeline.Context{Probe: b}
	}
	m := &Mix{PartLength: 30 * time.Minute}
	require.Nil(t, m.Parts(ctx(30*time.Minute)), "one part's length runs whole")
	require.Nil(t, (&Mix{}).Parts(ctx(4*time.Hour)), "no part length: whole")
	require.Equal(t, []job.Range{{Start: 0, End: 30 * time.Minute}, {Start: 30 * time.Minute, End: time.Hour},
		{Start: time.Hour, End: 61 * time.Minute}}, m.Parts(ctx(61*time.Minute)), "a rest of a minute is its own part")
	require.Equal(t, []job.Range{{Start: 0, End: 30 * time.Minute}, {Start: 30 * time.Minute, End: time.Hour + time.Second}},
		m.Parts(ctx(time.Hour+time.Second)), "a rest under 2 s joins the part before")
	require.Len(t, m.Parts(ctx(4*time.Hour)), 8)
}
