package sqs

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

func TestServerStop(t *testing.T) {
	t.Parallel()
	setup(t)
	ctx := t.Context()
	state := t.TempDir()
	s, err := StartServer(ctx, ServerOptions{ToolsDir: toolsDir, StateDir: state})
	require.NoError(t, err)
	pid := s.cmd.Process.Pid
	_, err = os.Stat(filepath.Join(state, "server.mjs"))
	require.NoError(t, err)

	c := NewClient(s.Endpoint(), s.Region())
	infos, err := EnsureQueues(ctx, c, []QueueSpec{{Name: "stop-test"}})
	require.NoError(t, err)
	require.Equal(t, QueueURL(s.Endpoint(), s.AccountID(), "stop-test"), infos["stop-test"].URL)

	require.NoError(t, s.Stop(ctx))
	require.NoError(t, s.Stop(ctx), "a second Stop is harmless")
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "node is gone")
	port := s.Endpoint()[len("http://127.0.0.1:"):]
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	require.NoError(t, err, "the port is free")
	l.Close()
	_, err = os.Stat(filepath.Join(state, pidFileName))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestServerFixedPortAndLeftover(t *testing.T) {
	t.Parallel()
	setup(t)
	ctx := t.Context()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	state := t.TempDir()
	first, err := StartServer(ctx, ServerOptions{ToolsDir: toolsDir, StateDir: state, Port: port})
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:"+strconv.Itoa(port), first.Endpoint())
	// Pretend the caller died without stopping it: the next start in the
	// same state directory stops the leftover and takes the port.
	second, err := StartServer(ctx, ServerOptions{ToolsDir: toolsDir, StateDir: state, Port: port})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, second.Stop(context.Background())) })
	<-first.exited
	require.NoError(t, first.Stop(ctx))
	require.Equal(t, first.Endpoint(), second.Endpoint())
}

func TestServerNotInstalled(t *testing.T) {
	t.Parallel()
	_, err := StartServer(t.Context(), ServerOptions{ToolsDir: t.TempDir()})
	require.ErrorIs(t, err, ErrNotInstalled)
	require.Contains(t, err.Error(), "make tools")
}

func TestServerPortTaken(t *testing.T) {
	t.Parallel()
	setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, err = StartServer(t.Context(), ServerOptions{ToolsDir: toolsDir, Port: l.Addr().(*net.TCPAddr).Port})
	require.Error(t, err)
	require.Contains(t, err.Error(), "EADDRINUSE", "the error shows the server's output")
}

// TestChangeVisibilityDoesNotCountAsAReceive: as in SQS, only receives count
// towards maxReceiveCount. A message handed back twice per receive (as a
// failed step does) is still received a third time with maxReceiveCount 3;
// with visibility changes counted it would be in the dead-letter queue by then.
func TestChangeVisibilityDoesNotCountAsAReceive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	main, _ := b.queue(t, 30*time.Second, 3)
	b.send(t, main.URL, "hello")
	for receive := 1; receive <= 3; receive++ {
		var got []types.Message
		require.Eventually(t, func() bool {
			out, err := b.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(main.URL),
				AttributeNames: []types.QueueAttributeName{"All"}}) //nolint:staticcheck // the stand-in reads only this older name (see doc.go)
			require.NoError(t, err)
			got = out.Messages
			return len(got) == 1
		}, 5*time.Second, 20*time.Millisecond, "receive %d", receive)
		require.Equal(t, strconv.Itoa(receive), got[0].Attributes["ApproximateReceiveCount"])
		if receive == 3 {
			break
		}
		// Hand it back twice (a backoff, then a shorter one), as a failed step does.
		for _, secs := range []int32{5, 0} {
			_, err := b.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(main.URL),
				ReceiptHandle: got[0].ReceiptHandle, VisibilityTimeout: secs})
			require.NoError(t, err)
		}
	}
}
