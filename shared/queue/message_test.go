package queue_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/queue"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	m, err := queue.Decode(`{"v":1,"job_id":"` + id.String() + `","step":"transcode","attempt":2,"trace_id":"t"}`)
	require.NoError(t, err)
	require.Equal(t, queue.Message{V: 1, JobID: id, Step: "transcode", Attempt: 2, TraceID: "t"}, m)
	for _, bad := range []string{`{`, `{"v":9,"job_id":"` + id.String() + `","step":"x"}`, `{"v":1,"step":"x"}`, `{"v":1,"job_id":"` + id.String() + `"}`, `{"v":1,"job_id":"nope","step":"x"}`, `{"job_id":"` + id.String() + `","step":"x"}`} {
		_, err := queue.Decode(bad)
		require.Equal(t, apperr.Invalid, apperr.CodeOf(err), bad)
	}
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
	require.Equal(t, queue.Version, m.V)
	require.Equal(t, id, m.JobID)
	require.Less(t, len(*rec.in[0].MessageBody), 1024, "ids only, never payloads")

	err := s.Send(t.Context(), queue.Message{JobID: id, Step: "mix"})
	require.ErrorContains(t, err, "MIX_QUEUE_URL")
}
