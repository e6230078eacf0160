package e2e_test

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/pgstack"
	"github.com/redub/redub/shared/queue"
)

// TestAPoolerFreezeDuringTranscode: the stack's own PgBouncer is stopped
// (SIGSTOP, this test's process only) for 20 s while transcode runs, with the
// template's queue settings. The job still succeeds, soon after the pooler
// comes back: recovery does not wait out the 5400 s visibility timeout.
func TestAPoolerFreezeDuringTranscode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg, err := pgstack.Start(ctx, pgstack.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	e := start(t, map[string]string{"DATABASE_URL": pg.PooledURL, "DATABASE_URL_UNPOOLED": pg.DirectURL})
	token, _ := e.login(t, "freeze@example.com")
	asset := e.uploadFile(t, token, sample(t, t.TempDir(), 40), "video/mp4", map[string]any{"recipe": "transcode"})
	id := e.jobOf(t, token, asset)
	require.Eventually(t, func() bool {
		for _, s := range e.job(t, token, id).Steps {
			if s.Name == "transcode" && s.Status == "running" {
				return true
			}
		}
		return false
	}, 2*time.Minute, 100*time.Millisecond)

	bouncer := pg.BouncerPID()
	require.NoError(t, syscall.Kill(bouncer, syscall.SIGSTOP))
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			_ = syscall.Kill(bouncer, syscall.SIGCONT)
		}
	}
	t.Cleanup(thaw)
	time.Sleep(20 * time.Second)
	thaw()
	back := time.Now()

	j := e.waitJob(t, token, id, 4*time.Minute)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	t.Logf("pooler frozen 20 s during transcode: job succeeded %.1f s after the pooler came back", time.Since(back).Seconds())
}

// TestAStaleDeadLetterLeavesAHealthyJobAlone: a duplicate of a message whose
// step succeeded reaches the dead-letter queue. The sweeper removes it and
// the job stays succeeded.
func TestAStaleDeadLetterLeavesAHealthyJobAlone(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, _ := e.login(t, "stale@example.com")
	asset := e.uploadFile(t, token, sample(t, t.TempDir(), 3), "video/mp4", map[string]any{"recipe": "transcode"})
	id := e.jobOf(t, token, asset)
	j := e.waitJob(t, token, id, 3*time.Minute)
	require.Equal(t, "succeeded", j.Status, "%+v", j)

	dlq, ok := e.st.Queue("TranscodeDeadLetterQueue")
	require.True(t, ok)
	var m queue.Message
	require.NoError(t, json.Unmarshal([]byte(`{"v":1,"job_id":"`+id+`","step":"transcode","attempt":1}`), &m))
	body, _ := json.Marshal(m)
	_, err := e.st.SQS().SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(dlq.URL), MessageBody: aws.String(string(body))})
	require.NoError(t, err)

	_, err = e.st.Fire(context.Background(), "SweeperFunction.EveryMinute")
	require.NoError(t, err)
	require.Equal(t, "succeeded", e.job(t, token, id).Status, "a stale dead letter never fails a healthy job")
	require.Eventually(t, func() bool {
		out, err := e.st.SQS().GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlq.URL),
			AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
		require.NoError(t, err)
		return out.Attributes["ApproximateNumberOfMessages"] == "0"
	}, 40*time.Second, 500*time.Millisecond, "the stale dead letter was removed")
}
