package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/stack"
	"github.com/redub/redub/shared/captions"
)

type jobView struct {
	ID     string
	Status string
	Error  *string
	Steps  []struct {
		Name, Status string
		Progress     float64
		Error        *string
		Attempts     int
		StartedAt    *time.Time `json:"started_at"`
		FinishedAt   *time.Time `json:"finished_at"`
		Parts        struct{ Total, Done int }
	}
	Outputs []struct {
		ID, Kind, Filename, ContentType string
		SizeBytes                       int64 `json:"size_bytes"`
	}
}

// ffmpeg runs ffmpeg for test fixtures.
func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg %v: %s", args, out)
}

// sample makes a short talking video: a test pattern and espeak-ng speech.
func sample(t testing.TB, dir string, seconds int) string {
	t.Helper()
	speechWAV := filepath.Join(dir, "speech.wav")
	text := "Hello and welcome. This is a short test of the redub pipeline. We speak, then we pause. Thank you for watching."
	out, err := exec.Command("espeak-ng", "-w", speechWAV, text).CombinedOutput()
	require.NoError(t, err, "%s", out)
	path := filepath.Join(dir, "talk.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=640x360:r=25:d=%d", seconds),
		"-i", speechWAV, "-filter_complex", fmt.Sprintf("[1:a]apad,atrim=0:%d[a]", seconds),
		"-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path)
	return path
}

// uploadFile sends a file through the API like a client: POST /uploads, then the presigned PUT.
func (e *env) uploadFile(t testing.TB, token, path, contentType string, extra map[string]any) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	body := map[string]any{"filename": filepath.Base(path), "content_type": contentType, "size_bytes": len(data)}
	for k, v := range extra {
		body[k] = v
	}
	r := e.do(t, call{method: "POST", path: "/uploads", token: token, body: body})
	require.Equal(t, 201, r.Status, string(r.Body))
	var up uploadAnswer
	r.JSON(t, &up)
	st, _ := put(t, up.Upload.URL, up.Upload.Headers, data)
	require.Equal(t, 200, st)
	return up.Asset.ID
}

func (e *env) assetStatus(t testing.TB, token, id string) (string, string) {
	var a struct {
		Status       string
		RejectReason *string `json:"reject_reason"`
	}
	e.do(t, call{method: "GET", path: "/assets/" + id, token: token}).JSON(t, &a)
	reason := ""
	if a.RejectReason != nil {
		reason = *a.RejectReason
	}
	return a.Status, reason
}

// jobOf waits for the job an upload started.
func (e *env) jobOf(t testing.TB, token, assetID string) string {
	t.Helper()
	var id string
	require.Eventually(t, func() bool {
		var page struct {
			Items []struct {
				ID      string
				AssetID string `json:"asset_id"`
			}
		}
		e.do(t, call{method: "GET", path: "/jobs", token: token}).JSON(t, &page)
		for _, it := range page.Items {
			if it.AssetID == assetID {
				id = it.ID
				return true
			}
		}
		return false
	}, 60*time.Second, 200*time.Millisecond, "the upload event starts a job (asset %s)", assetID)
	return id
}

func (e *env) job(t testing.TB, token, id string) jobView {
	var j jobView
	e.do(t, call{method: "GET", path: "/jobs/" + id, token: token}).JSON(t, &j)
	return j
}

// waitJob polls until the job ends, printing each step's time on the way.
func (e *env) waitJob(t testing.TB, token, id string, limit time.Duration) jobView {
	t.Helper()
	var j jobView
	require.Eventually(t, func() bool {
		j = e.job(t, token, id)
		return j.Status == "succeeded" || j.Status == "failed" || j.Status == "canceled"
	}, limit, 500*time.Millisecond, "job %s did not end: %+v", id, j)
	return j
}

func (e *env) fetch(t testing.TB, token, outputID, dest string) {
	t.Helper()
	var d struct{ URL string }
	r := e.do(t, call{method: "GET", path: "/assets/" + outputID + "/download", token: token})
	require.Equal(t, 200, r.Status, string(r.Body))
	r.JSON(t, &d)
	res, err := http.Get(d.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	f, err := os.Create(dest)
	require.NoError(t, err)
	_, err = io.Copy(f, res.Body)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

type probeOut struct {
	Format struct {
		Duration string
	}
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Duration  string
		Width     int
	}
}

func probe(t testing.TB, path string) probeOut {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path).Output()
	require.NoError(t, err)
	var p probeOut
	require.NoError(t, json.Unmarshal(out, &p))
	return p
}

func seconds(t testing.TB, s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err)
	return f
}

func outputsByKind(j jobView) map[string]string {
	m := map[string]string{}
	for _, o := range j.Outputs {
		m[o.Kind] = o.ID
	}
	return m
}

// The main recipe, offline: transcode, pocketsphinx, espeak-ng, mix.
func TestVoiceoverOffline(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, _ := e.login(t, "maker@example.com")
	dir := t.TempDir()
	src := sample(t, dir, 6)

	asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover"})
	id := e.jobOf(t, token, asset)
	j := e.waitJob(t, token, id, 3*time.Minute)
	require.Equal(t, "succeeded", j.Status, "job: %+v", j)
	for _, s := range j.Steps {
		require.Equal(t, "succeeded", s.Status, s.Name)
		require.Equal(t, struct{ Total, Done int }{1, 1}, s.Parts, "%s: a 6 s source runs every step as one part", s.Name)
	}
	outs := outputsByKind(j)
	for _, k := range []string{"video", "poster", "speech_wav", "transcript", "srt", "vtt", "voiceover"} {
		require.Contains(t, outs, k)
	}
	status, _ := e.assetStatus(t, token, asset)
	require.Equal(t, "ready", status)

	result := filepath.Join(dir, "voiceover.mp4")
	e.fetch(t, token, outs["voiceover"], result)
	p := probe(t, result)
	var video, audio, subs int
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			video++
		case "audio":
			audio++
			require.Equal(t, "aac", s.CodecName)
		case "subtitle":
			subs++
		}
	}
	require.Equal(t, 1, video)
	require.Equal(t, 1, audio)
	require.Equal(t, 1, subs, "captions are a subtitle track")
	require.InDelta(t, 6.0, seconds(t, p.Format.Duration), 0.3, "the new track is as long as the original")

	srt := filepath.Join(dir, "captions.srt")
	e.fetch(t, token, outs["srt"], srt)
	b, err := os.ReadFile(srt)
	require.NoError(t, err)
	_, err = captions.ParseSRT(b)
	require.NoError(t, err, "the SRT parses: %s", b)
	vtt := filepath.Join(dir, "captions.vtt")
	e.fetch(t, token, outs["vtt"], vtt)
	b, err = os.ReadFile(vtt)
	require.NoError(t, err)
	_, err = captions.ParseWebVTT(b)
	require.NoError(t, err)
}

// TestVoiceoverOtherFormats runs the voiceover recipe through the stack on
// uploads that are not MP4: a WebM (VP8 and Opus, whose video MP4 players
// do not take) and a FLAC. The steps read each by its recorded content
// type, never by a guess from the stored object's name.
func TestVoiceoverOtherFormats(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, _ := e.login(t, "formats@example.com")
	dir := t.TempDir()
	src := sample(t, dir, 6)
	webm := filepath.Join(dir, "talk.webm")
	ffmpeg(t, "-i", src, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus", webm)
	flac := filepath.Join(dir, "talk.flac")
	ffmpeg(t, "-i", src, "-vn", "-c:a", "flac", flac)

	cases := []struct {
		path, ctype string
		want        []string // the voiceover's codecs
	}{
		{webm, "video/webm", []string{"h264", "aac", "mov_text"}},
		{flac, "audio/flac", []string{"aac", "mov_text"}},
	}
	jobs := map[string]string{}
	for _, c := range cases {
		jobs[c.ctype] = e.jobOf(t, token, e.uploadFile(t, token, c.path, c.ctype, map[string]any{"recipe": "voiceover"}))
	}
	for _, c := range cases {
		j := e.waitJob(t, token, jobs[c.ctype], 4*time.Minute)
		require.Equal(t, "succeeded", j.Status, "%s: %+v", c.ctype, j)
		result := filepath.Join(dir, "voiceover-"+filepath.Base(c.path))
		e.fetch(t, token, outputsByKind(j)["voiceover"], result)
		p := probe(t, result)
		var codecs []string
		for _, s := range p.Streams {
			codecs = append(codecs, s.CodecName)
		}
		require.Equal(t, c.want, codecs, c.ctype)
		require.InDelta(t, 6.0, seconds(t, p.Format.Duration), 0.3, c.ctype)
	}
}

func TestCancelInTheMiddle(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, _ := e.login(t, "canceler@example.com")
	src := sample(t, t.TempDir(), 40)
	asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover"})
	id := e.jobOf(t, token, asset)
	require.Eventually(t, func() bool {
		j := e.job(t, token, id)
		return len(j.Steps) > 0 && j.Steps[0].Status == "running"
	}, 60*time.Second, 100*time.Millisecond)
	r := e.do(t, call{method: "POST", path: "/jobs/" + id + "/cancel", token: token})
	require.Equal(t, 200, r.Status, string(r.Body))
	time.Sleep(5 * time.Second)
	j := e.job(t, token, id)
	require.Equal(t, "canceled", j.Status)
	for _, s := range j.Steps[1:] {
		require.Equal(t, "canceled", s.Status, "no later step runs: %s", s.Name)
	}
	require.Eventually(t, func() bool { return e.job(t, token, id).Steps[0].Status == "canceled" }, 30*time.Second, 200*time.Millisecond,
		"the running step stops at its next check")
}

// Hostile media is rejected with readable reasons, and nothing outside the input is read.
func TestHostileMediaIsRejected(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	token, _ := e.login(t, "mallory@example.com")
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	good := sample(t, t.TempDir(), 2)
	whole, err := os.ReadFile(good)
	require.NoError(t, err)
	truncated := filepath.Join(dir, "truncated.mp4")
	require.NoError(t, os.WriteFile(truncated, whole[:len(whole)/2], 0o644))
	huge := filepath.Join(dir, "huge.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "color=c=black:s=16000x16000:d=0.04", "-frames:v", "1", "-c:v", "mjpeg", "-q:v", "31", huge)
	long := filepath.Join(dir, "long.mp3")
	ffmpeg(t, "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "36000", "-c:a", "libmp3lame", "-b:a", "8k", long)

	cases := []struct {
		name, path, ctype string
	}{
		{"HLS playlist named .mp4", write("hls.mp4", "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"), "video/mp4"},
		{"ffconcat list", write("concat.mp4", "ffconcat version 1.0\nfile '/etc/passwd'\n"), "video/mp4"},
		{"text named .mp4", write("notes.mp4", strings.Repeat("just some text, not a video\n", 50)), "video/mp4"},
		{"truncated MP4", truncated, "video/mp4"},
		{"16000x16000 frame", huge, "video/mp4"},
		{"10-hour silent audio", long, "audio/mpeg"},
	}
	ids := map[string]string{}
	for _, c := range cases {
		ids[c.name] = e.uploadFile(t, token, c.path, c.ctype, map[string]any{"recipe": "transcode"})
	}
	for _, c := range cases {
		var status, reason string
		require.Eventually(t, func() bool {
			status, reason = e.assetStatus(t, token, ids[c.name])
			return status != "pending"
		}, 90*time.Second, 300*time.Millisecond, c.name)
		require.Equal(t, "rejected", status, c.name)
		require.NotEmpty(t, reason, c.name)
		require.NotContains(t, reason, "root:", "%s: the reason must not leak file contents", c.name)
		t.Logf("%s: %s", c.name, reason)
	}
	var page struct{ Items []json.RawMessage }
	e.do(t, call{method: "GET", path: "/jobs", token: token}).JSON(t, &page)
	require.Empty(t, page.Items, "rejected uploads start no job")

	// Each refusal counts once in ingest's UploadsRejected, by reason class,
	// as the stack's metrics collector (`redub dev metrics`) saw the lines.
	reasons := map[string]int{}
	require.Eventually(t, func() bool {
		reasons = map[string]int{}
		for _, p := range e.metricPoints(t) {
			if p.Name == "UploadsRejected" && p.Function == "IngestFunction" {
				reasons[p.Dimensions["reason"]] += int(p.Value)
			}
		}
		return reasons["media_refused"] >= len(cases)
	}, 30*time.Second, 250*time.Millisecond, "ingest's UploadsRejected for each refused file")
	require.Equal(t, map[string]int{"media_refused": len(cases)}, reasons, "one count per refused upload, media_refused")
}

// metricPoints are the EMF metric points the stack collected in the last hour.
func (e *env) metricPoints(t *testing.T) []stack.MetricPoint {
	t.Helper()
	resp, err := http.Get(e.st.ControlURL() + "/metrics") //nolint:noctx // a local test endpoint
	require.NoError(t, err)
	defer resp.Body.Close()
	var points []stack.MetricPoint
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&points))
	return points
}

// killFunction SIGKILLs the function process (the bootstrap built from
// functions/<folder>) of this test's stack's running environments of the
// function with logical id: only the processes the stack reports, never
// another stack's or a running make dev's.
func (e *env) killFunction(t testing.TB, logicalID, folder string) bool {
	t.Helper()
	pids, err := e.st.FunctionPIDs(logicalID)
	require.NoError(t, err)
	killed := false
	for _, pid := range pids {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.HasSuffix(exe, "/build/"+folder) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = true
		}
	}
	return killed
}

var _ = uuid.New
var _ = context.Background
