package speech

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/config"
)

// TestRunEnvironment starts a real child through run, as the engines are
// started, with credentials in this process's environment; the child reads
// its own /proc/<pid>/environ: the fixed child environment, nothing else.
func TestRunEnvironment(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "speech-env-secret")
	t.Setenv("ELEVENLABS_API_KEY", "speech-env-key")
	cat, err := exec.LookPath("cat")
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), "cat", cat, []string{"/proc/self/environ"}, nil, &out))
	got := strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00")
	require.Equal(t, config.ChildEnv(), got)
}
