package lambda

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

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

// TestProcessGroupsNameOnlyThisManagersProcesses checks that the groups
// ProcessGroups returns are the function's RIE, with the function's binary
// under it, and that another function of the same binary in another Manager
// is not among them.
func TestProcessGroupsNameOnlyThisManagersProcesses(t *testing.T) {
	t.Parallel()
	a := setup(t, Options{}, FunctionSpec{Name: "Fn"}, FunctionSpec{Name: "Idle"})
	other := setup(t, Options{}, FunctionSpec{Name: "Fn"})
	a.requireEcho(t, "Fn")
	other.requireEcho(t, "Fn")

	groups, err := a.m.ProcessGroups("Fn")
	require.NoError(t, err)
	require.Len(t, groups, 1)
	theirs, err := other.m.ProcessGroups("Fn")
	require.NoError(t, err)
	require.Len(t, theirs, 1)
	require.NotEqual(t, groups[0], theirs[0])

	pgid := groups[0]
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pgid))
	require.NoError(t, err)
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	require.Equal(t, strconv.Itoa(pgid), fields[2], "RIE leads its own process group")
	var fn []int
	for _, kid := range childrenOf(pgid) {
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", kid)); err == nil && exe == binary(t, "fn") {
			fn = append(fn, kid)
		}
	}
	require.Len(t, fn, 1, "the function runs under RIE")

	idle, err := a.m.ProcessGroups("Idle")
	require.NoError(t, err)
	require.Empty(t, idle, "no environment started")
	_, err = a.m.ProcessGroups("Nope")
	require.ErrorIs(t, err, invoke.ErrUnknownFunction)
}
