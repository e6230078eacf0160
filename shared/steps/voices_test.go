package steps

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAssignVoices(t *testing.T) {
	t.Parallel()
	pool := []string{"A", "B", "C"}
	require.Equal(t, map[string]string{"Speaker 1": "A", "Speaker 2": "B", "Speaker 3": "C"},
		AssignVoices([]string{"Speaker 1", "Speaker 2", "Speaker 3"}, nil, "A", pool), "distinct voices from the list, the default first")
	require.Equal(t, map[string]string{"Speaker 1": "B", "Speaker 2": "A"},
		AssignVoices([]string{"Speaker 1", "Speaker 2"}, map[string]string{"Speaker 1": "B"}, "A", pool), "a mapped voice is not handed out again")
	require.Equal(t, map[string]string{"Speaker 1": "X", "Speaker 2": "A"},
		AssignVoices([]string{"Speaker 1", "Speaker 2"}, nil, "X", []string{"A"}), "the job's voice first")
	got := AssignVoices([]string{"S1", "S2", "S3"}, nil, "A", []string{"B"})
	require.Equal(t, "A", got["S1"])
	require.Equal(t, "B", got["S2"])
	require.NotEmpty(t, got["S3"], "voices are reused when they run out")
	require.Empty(t, AssignVoices(nil, nil, "A", pool))
}
