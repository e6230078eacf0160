package lambda

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
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
