package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/queue"
)

func TestDecodeAcceptsThisVersionAndItsPredecessor(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	body := func(v int) string {
		return `{"v":` + strconv.Itoa(v) + `,"job_id":"` + id.String() + `","step":"transcode","attempt":2,"trace_id":"t"}`
	}
	for _, v := range []int{queue.Version - 1, queue.Version} {
		m, err := queue.Decode(body(v))
		require.NoError(t, err, "v%d", v)
		require.Equal(t, queue.Message{V: v, JobID: id, Step: "transcode", Attempt: 2, TraceID: "t"}, m)
	}
	// A part message (version 2) carries its part; a merge message its flag.
	m, err := queue.Decode(`{"v":2,"job_id":"` + id.String() + `","step":"transcode","attempt":1,"part":3}`)
	require.NoError(t, err)
	require.Equal(t, 3, m.Part)
	m, err = queue.Decode(`{"v":2,"job_id":"` + id.String() + `","step":"transcode","attempt":1,"merge":true}`)
	require.NoError(t, err)
	require.True(t, m.Merge)
	for _, bad := range []string{`,"part":-1`, `,"part":2,"merge":true`} {
		_, err = queue.Decode(`{"v":2,"job_id":"` + id.String() + `","step":"transcode","attempt":1` + bad + `}`)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), bad)
	}

	// Newer: not malformed, but for newer code: it must go back to the queue.
	_, err = queue.Decode(body(queue.Version + 1))
	require.ErrorIs(t, err, queue.ErrNewer)
	require.NotEqual(t, apperr.Invalid, apperr.CodeOf(err))

	for _, bad := range []string{`{`, `garbage`, body(queue.Version - 2), `{"v":1,"step":"x"}`, `{"v":1,"job_id":"` + id.String() + `"}`, `{"v":1,"job_id":"nope","step":"x"}`} {
		_, err := queue.Decode(bad)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), bad)
		require.NotErrorIs(t, err, queue.ErrNewer, bad)
	}
}

func TestBackoffGrowsToItsCap(t *testing.T) {
	t.Parallel()
	require.Equal(t, 5*time.Second, queue.Backoff(1, 1))
	require.Equal(t, 15*time.Second, queue.Backoff(2, 1))
	require.Equal(t, 45*time.Second, queue.Backoff(3, 1))
	require.Equal(t, queue.BackoffMax, queue.Backoff(50, 1))
	require.Equal(t, 4*time.Second, queue.Backoff(1, 0.1), "jitter is clamped to 0.8-1.2")
	require.Equal(t, 6*time.Second, queue.Backoff(1, 9))
}

func TestRetryAfterFindsTheDelayInTheChain(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("step: %w", queue.Retry(3*time.Second, errors.New("429")))
	d, ok := queue.RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, 3*time.Second, d)
	_, ok = queue.RetryAfter(errors.New("plain"))
	require.False(t, ok)
}

type recordingSQS struct{ in []*sqs.SendMessageInput }

func (r *recordingSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	r.in = append(r.in, in)
	return &sqs.SendMessageOutput{}, nil
}

func TestSenderRoutesByStep(t *testing.T) {
	t.Parallel()
	rec := &recordingSQS{}
	s := queue.NewSender(rec, map[string]string{"transcode": "http://q/transcode"})
	id := uuid.New()
	require.NoError(t, s.Send(t.Context(), queue.Message{JobID: id, Step: "transcode", Attempt: 1}))
	require.Len(t, rec.in, 1)
	require.Equal(t, "http://q/transcode", *rec.in[0].QueueUrl)
	var m queue.Message
	require.NoError(t, json.Unmarshal([]byte(*rec.in[0].MessageBody), &m))
	require.Equal(t, 1, m.V, "a whole-step message stays version 1, for the previous release's consumers")
	require.Equal(t, id, m.JobID)
	require.NoError(t, s.Send(t.Context(), queue.Message{JobID: id, Step: "transcode", Attempt: 1, Part: 2}))
	m = queue.Message{}
	require.NoError(t, json.Unmarshal([]byte(*rec.in[1].MessageBody), &m))
	require.Equal(t, queue.Version, m.V)
	require.Equal(t, 2, m.Part)
	require.Less(t, len(*rec.in[0].MessageBody), 1024, "ids only, never payloads")

	err := s.Send(t.Context(), queue.Message{JobID: id, Step: "mix"})
	require.ErrorContains(t, err, "MIX_QUEUE_URL")
}
