package lambdarun

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// A runtime that timed out left its work directory; the next cold start
// removes it, and leaves alone those of processes still running (other
// environments sharing /tmp on the local stack) and anything not ours.
func TestPrivateTempRemovesWhatDeadRuntimesLeft(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	deadPid := dead.Process.Pid
	require.False(t, processAlive(deadPid))

	mk := func(name string) string {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Join(p, "redub-ingest-123"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(p, "redub-ingest-123", "source"), []byte("media"), 0o600))
		return p
	}
	stale := mk(tempPrefix + strconv.Itoa(deadPid) + "-abc")
	samePid := mk(tempPrefix + "4242-old") // a restarted runtime can get its predecessor's pid
	live := mk(tempPrefix + strconv.Itoa(os.Getppid()) + "-live")
	other := mk("redub-1000-pgstack-sockets")

	dir, removed, err := privateTemp(root, 4242, processAlive)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{stale, samePid}, removed)
	for _, gone := range []string{stale, samePid} {
		require.NoDirExists(t, gone)
	}
	for _, kept := range []string{live, other} {
		require.DirExists(t, kept)
	}
	require.DirExists(t, dir)
	require.Equal(t, root, filepath.Dir(dir))
	require.Contains(t, filepath.Base(dir), tempPrefix+"4242-")
}
