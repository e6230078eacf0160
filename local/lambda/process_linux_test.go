package lambda

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/invoke"
)

func TestListensOnSeesOnlyTheProcessesOwnSockets(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.True(t, listensOn(os.Getpid(), []int{port}))
	require.False(t, listensOn(os.Getppid(), []int{port}), "another process's listener is not ours")
	require.NoError(t, l.Close())
	require.False(t, listensOn(os.Getpid(), []int{port}))
}

// TestFunctionPIDsNameOnlyThisManagersProcesses checks that FunctionPIDs
// names the function's own process, under this Manager's RIE, and not the
// process of the same binary in another Manager.
func TestFunctionPIDsNameOnlyThisManagersProcesses(t *testing.T) {
	t.Parallel()
	a := setup(t, Options{}, FunctionSpec{Name: "Fn"}, FunctionSpec{Name: "Idle"})
	other := setup(t, Options{}, FunctionSpec{Name: "Fn"})
	a.requireEcho(t, "Fn")
	other.requireEcho(t, "Fn")

	pids, err := a.m.FunctionPIDs("Fn")
	require.NoError(t, err)
	require.Len(t, pids, 1)
	theirs, err := other.m.FunctionPIDs("Fn")
	require.NoError(t, err)
	require.Len(t, theirs, 1)
	require.NotEqual(t, pids[0], theirs[0])
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pids[0]))
	require.NoError(t, err)
	require.Equal(t, binary(t, "fn"), exe, "the function's process, not RIE")

	// Killing it leaves the other Manager's function alone.
	require.NoError(t, syscall.Kill(pids[0], syscall.SIGKILL))
	require.Eventually(t, func() bool { return !pidAlive(pids[0]) }, 5*time.Second, 10*time.Millisecond)
	require.True(t, pidAlive(theirs[0]))
	other.requireEcho(t, "Fn")
	require.Equal(t, 1, other.stats(t, "Fn").Started, "the other Manager's environment was not replaced")

	idle, err := a.m.FunctionPIDs("Idle")
	require.NoError(t, err)
	require.Empty(t, idle, "no environment started")
	_, err = a.m.FunctionPIDs("Nope")
	require.ErrorIs(t, err, invoke.ErrUnknownFunction)
}
