package queue_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/queue"
)

// FuzzDecode feeds Decode any message body. A body of a newer version is
// ErrNewer (the consumer hands it back for newer code); any other it refuses
// is an apperr.Invalid error (the consumer drops it); one it accepts has a job
// id and a step, and reads back the same after being written again.
func FuzzDecode(f *testing.F) {
	f.Add(`{"v":1,"job_id":"0190c5a8-7a3e-7c3e-9f1e-3b0f6f6a2b11","step":"transcode","attempt":1,"trace_id":"1-abc"}`)
	f.Add(`{"v":0,"job_id":"0190c5a8-7a3e-7c3e-9f1e-3b0f6f6a2b11","step":"mix"}`)
	f.Add(`{"v":2,"job_id":"0190c5a8-7a3e-7c3e-9f1e-3b0f6f6a2b11","step":"mix"}`)
	f.Add(`{"v":1,"job_id":"00000000-0000-0000-0000-000000000000","step":"mix"}`)
	f.Add(`{"v":1} trailing`)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := queue.Decode(body)
		if errors.Is(err, queue.ErrNewer) {
			require.Greater(t, m.V, queue.Version, "%v", err)
			return
		}
		if err != nil {
			require.Equal(t, apperr.Invalid, apperr.CodeOf(err), "%v", err)
			return
		}
		require.NotEqual(t, uuid.Nil, m.JobID)
		require.NotEmpty(t, m.Step)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		again, err := queue.Decode(string(b))
		require.NoError(t, err, "%s", b)
		require.Equal(t, m, again)
	})
}
