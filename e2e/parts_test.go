package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/media/syncmark"
)

// Transcode in parts through the local stack (the template's settings, parts
// of 300 s): a 20-minute source with a flash and a beep together every 10 s.

const (
	partSeconds = 300
	longSource  = 20 * time.Minute
)

// partsStack is a stack whose transcodes split every 300 s.
func partsStack(t *testing.T) *env {
	t.Helper()
	return start(t, map[string]string{"TRANSCODE_PART_SECONDS": strconv.Itoa(partSeconds)})
}

// marks makes a 320x180 source of length d with a flash and a beep every 10 s.
func marks(t *testing.T, dir string, d time.Duration) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("marks-%ds.mp4", int(d.Seconds())))
	require.NoError(t, syncmark.Source(t.Context(), "ffmpeg", path, "320x180", d, 10*time.Second))
	return path
}

// ffprobeField is one entry of a file's first stream of kind (v or a).
func ffprobeField(t *testing.T, path, kind, entry string, extra ...string) string {
	t.Helper()
	args := append([]string{"-v", "error", "-select_streams", kind + ":0"}, extra...)
	args = append(args, "-show_entries", "stream="+entry, "-of", "csv=p=0", path)
	out, err := exec.Command("ffprobe", args...).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

func videoPackets(t *testing.T, path string) int {
	n, err := strconv.Atoi(ffprobeField(t, path, "v", "nb_read_packets", "-count_packets"))
	require.NoError(t, err)
	return n
}

func streamSeconds(t *testing.T, path, kind string) float64 {
	return seconds(t, ffprobeField(t, path, kind, "duration"))
}

// partClaims are the claims (attempts) of each part of a job's transcode, by part.
func (e *env) partClaims(t *testing.T, jobID string) map[int]int {
	t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT part, attempts FROM job_parts WHERE job_id = $1 AND step = 'transcode'`, jobID)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int]int{}
	for rows.Next() {
		var part, attempts int
		require.NoError(t, rows.Scan(&part, &attempts))
		out[part] = attempts
	}
	require.NoError(t, rows.Err())
	return out
}

// runningParts are the parts of a job's transcode that run now.
func (e *env) runningParts(t *testing.T, jobID string) []int {
	t.Helper()
	rows, err := e.db.Query(context.Background(), `SELECT part FROM job_parts WHERE job_id = $1 AND status = 'running' ORDER BY part`, jobID)
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var p int
		require.NoError(t, rows.Scan(&p))
		out = append(out, p)
	}
	require.NoError(t, rows.Err())
	return out
}

// dumpOnFailure logs a job's steps and parts when the test fails, while the
// stack's database is still up.
func (e *env) dumpOnFailure(t *testing.T, jobID string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, q := range []string{
			`SELECT step, status, attempts, dispatch, progress_stage, coalesce(error, ''), updated_at, enqueued_at FROM job_steps WHERE job_id = $1 ORDER BY position`,
			`SELECT part, status, attempts, dispatch, coalesce(error, ''), updated_at, enqueued_at FROM job_parts WHERE job_id = $1 ORDER BY part`,
		} {
			rows, err := e.db.Query(context.Background(), q, jobID)
			if err != nil {
				t.Logf("dump: %v", err)
				continue
			}
			for rows.Next() {
				v, _ := rows.Values()
				t.Logf("job %s: %v", jobID, v)
			}
			rows.Close()
		}
	})
}

// jobKeys lists the objects under jobs/<id>/<sub>.
func (e *env) jobKeys(t *testing.T, jobID, sub string) []string {
	t.Helper()
	bucket := e.st.Template().Buckets["MediaBucket"].Name
	prefix := "jobs/" + jobID + "/" + sub
	out, err := e.st.S3().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	require.NoError(t, err)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, *o.Key)
	}
	return keys
}

// checkParted checks a parted transcode's video against its source: every
// frame, the lengths, the sync at every part boundary, no part left.
func checkParted(t *testing.T, e *env, token, jobID, src string) string {
	t.Helper()
	j := e.job(t, token, jobID)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	outs := outputsByKind(j)
	for _, kind := range []string{"video", "poster", "speech_wav"} {
		require.Contains(t, outs, kind)
	}
	video := filepath.Join(t.TempDir(), "video.mp4")
	e.fetch(t, token, outs["video"], video)

	require.Equal(t, videoPackets(t, src), videoPackets(t, video), "every frame of the source, once")
	require.InDelta(t, streamSeconds(t, src, "v"), streamSeconds(t, video, "v"), 0.1)
	require.InDelta(t, streamSeconds(t, src, "a"), streamSeconds(t, video, "a"), 0.1)
	flashes, err := syncmark.Flashes(t.Context(), "ffmpeg", video)
	require.NoError(t, err)
	beeps, err := syncmark.Beeps(t.Context(), "ffmpeg", video)
	require.NoError(t, err)
	for at := time.Duration(partSeconds) * time.Second; at < longSource; at += partSeconds * time.Second {
		d, ok := syncmark.Drift(flashes, beeps, at)
		require.True(t, ok, "the flash and beep at the boundary %s", at)
		require.LessOrEqual(t, d.Abs(), 40*time.Millisecond, "A/V drift at the boundary %s", at)
		t.Logf("boundary %s: drift %s", at, d)
	}
	require.Empty(t, e.jobKeys(t, jobID, "transcode/parts/"), "the merge removed every part")
	return video
}

func TestTranscodeInParts(t *testing.T) {
	t.Parallel()
	e := partsStack(t)
	token, _ := e.login(t, "parts@example.com")
	src := marks(t, t.TempDir(), longSource)
	parts := int(longSource.Seconds()) / partSeconds

	id := e.jobOf(t, token, e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "transcode"}))
	// While it runs: what GET /jobs/{id} says of the transcode's parts (the
	// answers are checked against docs/openapi.yaml), and how many parts run
	// at once across the function's environments.
	seen := map[[2]int]bool{}
	atOnce := 0
	var j jobView
	require.Eventually(t, func() bool {
		j = e.job(t, token, id)
		if p := j.Steps[0].Parts; j.Steps[0].Name == "transcode" {
			seen[[2]int{p.Total, p.Done}] = true
		}
		atOnce = max(atOnce, len(e.runningParts(t, id)))
		return j.Status == "succeeded" || j.Status == "failed" || j.Status == "canceled"
	}, 8*time.Minute, 200*time.Millisecond, "job %s did not end", id)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	require.Equal(t, "transcode", j.Steps[0].Name)
	require.Equal(t, parts, j.Steps[0].Parts.Total, "the API counts the parts")
	require.Equal(t, parts, j.Steps[0].Parts.Done, "the API counts the parts done")
	require.True(t, seen[[2]int{parts, 0}] || seen[[2]int{parts, 1}], "the API showed the parts while they ran: %v", seen)
	t.Logf("parts seen through the API (total, done): %v; at most %d parts ran at once", seen, atOnce)
	require.Greater(t, atOnce, 1, "parts run at once across the function's environments")
	require.LessOrEqual(t, atOnce, transcodeConcurrency(t, e), "no more at once than the queue's MaximumConcurrency")
	claims := e.partClaims(t, id)
	require.Len(t, claims, parts)
	for p, n := range claims {
		require.Equal(t, 1, n, "part %d ran once", p)
	}
	first := checkParted(t, e, token, id, src)

	// The same source again, one transcode process killed while it encodes a
	// part: only that part runs again, and the output is the same.
	id = e.jobOf(t, token, e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "transcode"}))
	e.dumpOnFailure(t, id)
	part := 0
	require.Eventually(t, func() bool {
		part = e.killPart(t)
		return part > 0
	}, 4*time.Minute, 50*time.Millisecond, "a transcode process encoding a part was found and killed")
	j = e.waitJob(t, token, id, 8*time.Minute)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	claims = e.partClaims(t, id)
	require.Len(t, claims, parts)
	for p, n := range claims {
		want := 1
		if p == part {
			want = 2 // its worker died: the sweeper sent it alone again
		}
		require.Equal(t, want, n, "claims of part %d (part %d was killed)", p, part)
	}
	second := checkParted(t, e, token, id, src)
	require.Equal(t, streamHash(t, first), streamHash(t, second), "the same video as the run nobody killed")
}

// killPart SIGKILLs one process of this stack's transcode function that is
// encoding a part (it has an ffmpeg child writing .../parts/NNNN.mp4), and
// that ffmpeg, and returns the part's number; 0 when none is encoding now.
// Only a busy environment is killed, as a crash mid-invoke would: Lambda
// never hands the next message to an environment whose process died idle.
func (e *env) killPart(t *testing.T) int {
	t.Helper()
	pids, err := e.st.FunctionPIDs("TranscodeFunction")
	require.NoError(t, err)
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	for _, pid := range pids {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.HasSuffix(exe, "/build/transcode") {
			continue
		}
		for _, st := range stats {
			b, err := os.ReadFile(st)
			if err != nil {
				continue
			}
			// pid (comm) state ppid ...
			fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
				continue
			}
			child := strings.TrimSuffix(strings.TrimPrefix(st, "/proc/"), "/stat")
			cmdline, err := os.ReadFile("/proc/" + child + "/cmdline")
			if err != nil {
				continue
			}
			args := strings.Split(string(cmdline), "\x00")
			out := ""
			for _, a := range args {
				if strings.Contains(a, "/parts/") && strings.HasSuffix(a, ".mp4") {
					out = a
				}
			}
			if filepath.Base(args[0]) != "ffmpeg" || out == "" {
				continue
			}
			n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(out), ".mp4"))
			require.NoError(t, err, out)
			require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
			if c, err := strconv.Atoi(child); err == nil {
				_ = syscall.Kill(c, syscall.SIGKILL) // its own ffmpeg, orphaned now
			}
			t.Logf("killed the transcode process %d while it encoded part %d", pid, n)
			return n
		}
	}
	return 0
}

// streamHash is a hash of a file's video packets.
func streamHash(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0", "-c", "copy", "-f", "streamhash", "-").Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

func TestCancelDuringThePartsStopsThemAndNoMergeRuns(t *testing.T) {
	t.Parallel()
	e := partsStack(t)
	token, _ := e.login(t, "parts-cancel@example.com")
	src := marks(t, t.TempDir(), longSource)
	id := e.jobOf(t, token, e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "transcode"}))
	require.Eventually(t, func() bool { return len(e.runningParts(t, id)) > 0 }, 4*time.Minute, 50*time.Millisecond, "a part runs")
	r := e.do(t, call{method: "POST", path: "/jobs/" + id + "/cancel", token: token})
	require.Equal(t, 200, r.Status, string(r.Body))

	require.Eventually(t, func() bool {
		var open int
		require.NoError(t, e.db.QueryRow(context.Background(), `SELECT count(*) FROM job_parts WHERE job_id = $1 AND status IN ('queued', 'running')`,
			id).Scan(&open))
		return open == 0 && e.job(t, token, id).Steps[0].Status == "canceled"
	}, time.Minute, 200*time.Millisecond, "every part stops")
	time.Sleep(3 * time.Second) // a merge, were one sent, would have started by now
	j := e.job(t, token, id)
	require.Equal(t, "canceled", j.Status)
	require.Empty(t, j.Outputs)
	var stage string
	require.NoError(t, e.db.QueryRow(context.Background(), `SELECT progress_stage FROM job_steps WHERE job_id = $1 AND step = 'transcode'`, id).Scan(&stage))
	require.NotEqual(t, "merging", stage, "no merge was claimed")
	require.Empty(t, e.jobKeys(t, id, "transcode/video.mp4"), "no merge wrote the video")
	var done int
	require.NoError(t, e.db.QueryRow(context.Background(), `SELECT count(*) FROM job_parts WHERE job_id = $1 AND status = 'succeeded'`, id).Scan(&done))
	require.Less(t, done, int(longSource.Seconds())/partSeconds, "the cancel came before the last part")
}

func TestAShortSourceRunsAsOnePart(t *testing.T) {
	t.Parallel()
	e := partsStack(t)
	token, _ := e.login(t, "parts-short@example.com")
	src := marks(t, t.TempDir(), 2*time.Minute)
	id := e.jobOf(t, token, e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "transcode"}))
	j := e.waitJob(t, token, id, 4*time.Minute)
	require.Equal(t, "succeeded", j.Status, "%+v", j)
	require.Empty(t, e.partClaims(t, id), "no parts")
	require.Equal(t, 1, j.Steps[0].Attempts, "one invocation, no merge")
	var kinds []string
	for _, o := range j.Outputs {
		kinds = append(kinds, o.Kind)
	}
	require.ElementsMatch(t, []string{"video", "poster", "speech_wav"}, kinds, "the outputs of a whole transcode")
	video := filepath.Join(t.TempDir(), "video.mp4")
	e.fetch(t, token, outputsByKind(j)["video"], video)
	require.Equal(t, videoPackets(t, src), videoPackets(t, video))
	p := probe(t, video)
	require.Len(t, p.Streams, 2, "H.264 and AAC in one pass, as before")
	require.Equal(t, "h264", p.Streams[0].CodecName)
	require.Equal(t, "aac", p.Streams[1].CodecName)
	require.Empty(t, e.jobKeys(t, id, "transcode/parts/"))
}

// TestVoiceoverMixInParts runs the voiceover recipe on a 25 s source with
// mix parts of 10 s: mix runs in 3 parts and a merge, and the voiceover is
// what a whole mix makes (one video, one AAC, the captions, the source's
// length); nothing stays under the part keys.
func TestVoiceoverMixInParts(t *testing.T) {
	t.Parallel()
	e := start(t, map[string]string{"MIX_PART_SECONDS": "10"})
	token, _ := e.login(t, "mixparts@example.com")
	dir := t.TempDir()
	src := sample(t, dir, 25)

	id := e.jobOf(t, token, e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover"}))
	j := e.waitJob(t, token, id, 5*time.Minute)
	require.Equal(t, "succeeded", j.Status, "job: %+v", j)
	for _, s := range j.Steps {
		if s.Name == "mix" {
			require.Equal(t, struct{ Total, Done int }{3, 3}, s.Parts, "mix of 25 s in parts of 10 s")
		}
	}
	result := filepath.Join(dir, "voiceover.mp4")
	e.fetch(t, token, outputsByKind(j)["voiceover"], result)
	p := probe(t, result)
	kinds := map[string]int{}
	for _, s := range p.Streams {
		kinds[s.CodecType]++
		if s.CodecType == "audio" {
			require.Equal(t, "aac", s.CodecName)
		}
	}
	require.Equal(t, map[string]int{"video": 1, "audio": 1, "subtitle": 1}, kinds)
	require.InDelta(t, 25.0, seconds(t, p.Format.Duration), 0.3, "as long as the original")
	require.InDelta(t, streamSeconds(t, src, "v"), streamSeconds(t, result, "a"), 0.1, "the new track as long as the picture")
	require.Empty(t, e.jobKeys(t, id, "mix/parts/"), "the merge removed every part")
}

// transcodeConcurrency is the template's MaximumConcurrency for the
// transcode queue's event source.
func transcodeConcurrency(t *testing.T, e *env) int {
	t.Helper()
	f := e.st.Template().Functions["TranscodeFunction"]
	require.NotNil(t, f)
	for _, ev := range f.SQS {
		if ev.MaxConcurrency > 0 {
			return ev.MaxConcurrency
		}
	}
	t.Fatal("TranscodeFunction has no SQS event with MaximumConcurrency")
	return 0
}
