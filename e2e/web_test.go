package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/local/stack"
)

// webResults is what web/e2e/web.mjs saw in the browser.
type webResults struct {
	Problems         []string `json:"problems"`
	LCPMillis        float64  `json:"lcp_ms"`
	LandingLoadMs    float64  `json:"landing_load_ms"`
	LandingWithoutJS struct {
		H1         string `json:"h1"`
		SignInHref string `json:"sign_in_href"`
	} `json:"landing_without_js"`
	GoogleHref  string    `json:"google_href"`
	Refused     string    `json:"refused"`
	Progress    []float64 `json:"progress"`
	SampleBytes int64     `json:"sample_bytes"`
	AssetID     string    `json:"asset_id"`
	JobStatus   string    `json:"job_status"`
	Player      struct {
		From, To float64
		Error    *int
		Cues     int
		FirstCue string `json:"first_cue"`
		Label    string
	} `json:"player"`
	Transcript struct {
		Lines              int    `json:"lines"`
		FirstBefore        string `json:"first_before"`
		Heading            string `json:"heading"`
		FocusedTextBox     bool   `json:"focused_text_box"`
		Saved              string `json:"saved"`
		RenderingDownloads int    `json:"rendering_downloads"`
	} `json:"transcript"`
	Rerender struct {
		Status, Revision, Player string
		FirstLine                string `json:"first_line"`
		From, To                 float64
		Error                    *int
		Cues                     []string
		SrcChanged               bool `json:"src_changed"`
		AgainDisabled            bool `json:"again_disabled"`
	} `json:"rerender"`
	Clone struct {
		Refused             string `json:"refused"`
		FocusedConsent      bool   `json:"focused_consent"`
		PostsWithoutConsent int    `json:"posts_without_consent"`
		Server              string `json:"server"`
		Posts               int    `json:"posts"`
	} `json:"clone"`
	SwitchedTo string `json:"switched_to"`
	Download   struct {
		Name  string
		Bytes int64
	} `json:"download"`
	Tile        string `json:"tile"`
	AfterDelete string `json:"after_delete"`
	Multipart   struct {
		Parts       int    `json:"parts"`
		PutRequests int    `json:"put_requests"`
		Complete    int    `json:"complete"`
		Refused     string `json:"refused"`
	} `json:"multipart"`
	Pages       map[string]json.RawMessage `json:"pages"`
	Screenshots []string                   `json:"screenshots"`
}

// TestWeb drives the web app in Debian's Chromium against the local stack:
// the same start as every e2e test, on a port chosen first so that AUTH_URL
// (the origin the cookie and the Origin check expect) can name it.
func TestWeb(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack and a browser")
	}
	t.Parallel()
	const chromium = "/usr/bin/chromium" // Debian's package (make deps); no browser download is possible here
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Chromium at %s: make deps installs Debian's chromium", chromium)
		}
		t.Skipf("no Chromium at %s (apt-get install chromium, or make deps as root)", chromium)
	}
	web := filepath.Join(root(t), "web")
	for _, p := range []string{"dist/index.html", "dist/app/index.html", "node_modules/playwright-core", "node_modules/axe-core"} {
		_, err := os.Stat(filepath.Join(web, p))
		require.NoError(t, err, "web/%s is missing: run `make web` (make test does)", p)
	}

	port := freePort(t)
	appURL := fmt.Sprintf("http://localhost:%d", port)
	e := startOpts(t, map[string]string{"AUTH_URL": appURL}, stack.Options{Ports: stack.Ports{API: port}})
	require.Equal(t, appURL+"/", e.st.AppURL())

	sample := webSample(t)
	shots := filepath.Join(root(t), ".dev", "screenshots")
	require.NoError(t, os.RemoveAll(shots))
	require.NoError(t, os.MkdirAll(shots, 0o755))

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "e2e/web.mjs")
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "APP_URL="+appURL, "SAMPLE="+sample, "SHOTS="+shots, "CHROMIUM="+chromium)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("browser log:\n%s", stderr.String())
	require.NoError(t, err, "node e2e/web.mjs")
	var r webResults
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r), stdout.String())
	require.Empty(t, r.Problems)

	t.Run("landing page", func(t *testing.T) {
		require.Contains(t, r.LandingWithoutJS.H1, "new voice", "readable without JavaScript")
		require.Equal(t, "/app/", r.LandingWithoutJS.SignInHref)
		require.Positive(t, r.LCPMillis)
		t.Logf("landing page: largest contentful paint %.0f ms, load %.0f ms", r.LCPMillis, r.LandingLoadMs)
	})
	t.Run("sign-in offers Google", func(t *testing.T) {
		require.True(t, strings.HasPrefix(r.GoogleHref, "/auth/google?return_to="), r.GoogleHref)
	})
	t.Run("a refused file shows the server's reason", func(t *testing.T) {
		// The API's problem+json detail for a text file, as the console shows it.
		require.Contains(t, r.Refused, "The upload was refused: ")
		require.Greater(t, len(r.Refused), len("The upload was refused: ")+10, r.Refused)
		t.Logf("refused: %s", r.Refused)
	})
	t.Run("upload progress moved", func(t *testing.T) {
		var between int
		for i, v := range r.Progress {
			if i > 0 {
				require.GreaterOrEqual(t, v, r.Progress[i-1], "progress never goes back: %v", r.Progress)
			}
			if v > 0 && v < float64(r.SampleBytes) {
				between++
			}
		}
		require.GreaterOrEqual(t, between, 2, "the bar showed bytes in flight: %v", r.Progress)
		// The console leaves for the asset's page as soon as the last byte is sent, so the
		// last frame seen may be just short of the total.
		require.GreaterOrEqual(t, r.Progress[len(r.Progress)-1], 0.9*float64(r.SampleBytes), "%v", r.Progress)
	})
	t.Run("job succeeded and the dub played with captions", func(t *testing.T) {
		require.Equal(t, "succeeded", r.JobStatus)
		require.Nil(t, r.Player.Error, "no media error")
		require.Greater(t, r.Player.To, r.Player.From, "currentTime advanced")
		require.Equal(t, "The dub", r.Player.Label)
		require.Positive(t, r.Player.Cues)
		require.NotEmpty(t, r.Player.FirstCue)
		require.Equal(t, "The original", r.SwitchedTo)
	})
	t.Run("edit a line and re-render to revision 2", func(t *testing.T) {
		const edited = "This line was edited in the browser."
		require.Positive(t, r.Transcript.Lines, "the transcript lists the lines")
		require.Equal(t, "Transcript · revision 1", r.Transcript.Heading)
		require.True(t, r.Transcript.FocusedTextBox, "Edit moves the keyboard to the text")
		require.Equal(t, "Line 1 saved. Re-render to hear it.", r.Transcript.Saved)
		require.Positive(t, r.Transcript.RenderingDownloads, "revision 1's files stay downloadable while revision 2 renders")
		require.Equal(t, "succeeded", r.Rerender.Status)
		require.Equal(t, "Revision 2", r.Rerender.Revision)
		require.Equal(t, "Player · revision 2", r.Rerender.Player)
		require.Equal(t, edited, r.Rerender.FirstLine)
		require.True(t, r.Rerender.SrcChanged, "the player switched to revision 2's dub")
		require.True(t, r.Rerender.AgainDisabled, "re-rendering again waits for a new edit")
		require.Nil(t, r.Rerender.Error, "no media error")
		require.Greater(t, r.Rerender.To, r.Rerender.From, "revision 2 plays")
		require.NotEmpty(t, r.Rerender.Cues)
		require.Contains(t, strings.Join(r.Rerender.Cues, " "), edited, "the captions were rewritten")
		t.Logf("transcript: %d lines; first was %q", r.Transcript.Lines, r.Transcript.FirstBefore)
	})
	t.Run("cloning needs consent; the API's reason is shown", func(t *testing.T) {
		require.Contains(t, r.Clone.Refused, "Cloning voices needs your consent")
		require.True(t, r.Clone.FocusedConsent, "the keyboard goes to the consent box")
		require.Zero(t, r.Clone.PostsWithoutConsent, "nothing was sent without consent")
		require.Equal(t, 1, r.Clone.Posts)
		require.Contains(t, r.Clone.Server, "The job was refused: ")
		require.Contains(t, r.Clone.Server, "Speaker 1", "the API's problem+json detail")
		t.Logf("server: %s", r.Clone.Server)
	})
	t.Run("download", func(t *testing.T) {
		require.True(t, strings.HasSuffix(r.Download.Name, ".mp4"), r.Download.Name)
		require.Greater(t, r.Download.Bytes, int64(10_000))
	})
	t.Run("library tile", func(t *testing.T) {
		// The poster loaded (the script waited for it); the tile says name, status and recipe.
		for _, want := range []string{"demo-talk.mp4", "succeeded", "Voiceover (dub)"} {
			require.Contains(t, r.Tile, want)
		}
	})
	t.Run("delete", func(t *testing.T) {
		require.Contains(t, r.AfterDelete, "Deleted")
		// The API agrees: the asset is gone.
		res, err := http.Get(e.api + "/assets/" + r.AssetID)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, "no session here")
		token, _ := e.login(t, "browser@example.com")
		got := e.do(t, call{method: "GET", path: "/assets/" + r.AssetID, token: token})
		require.Equal(t, http.StatusNotFound, got.Status)
	})
	t.Run("a large file went in parts", func(t *testing.T) {
		// 65 MiB in the server's 8 MiB parts, then POST /uploads/{id}/complete; not media, so refused.
		require.Equal(t, 9, r.Multipart.Parts, "%+v", r.Multipart)
		require.Equal(t, http.StatusOK, r.Multipart.Complete)
		require.Contains(t, r.Multipart.Refused, "This file was refused: ")
		t.Logf("multipart: %+v", r.Multipart)
	})
	t.Run("axe on every page", func(t *testing.T) {
		for _, p := range []string{"landing", "sign-in", "library-empty", "job-running", "job-done", "transcript", "transcript-editing", "job-revision-2", "new-job-consent", "library", "delete-dialog", "library-after-delete"} {
			require.Contains(t, r.Pages, p)
		}
	})
	t.Run("screenshots are not blank", func(t *testing.T) {
		require.Len(t, r.Screenshots, 12)
		for _, p := range r.Screenshots {
			notBlank(t, p)
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// webSample makes the demo's sample (`redub demo`): 8 s of a test pattern
// with espeak-ng speech.
func webSample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	speech := filepath.Join(dir, "speech.wav")
	out, err := exec.Command("espeak-ng", "-w", speech, "Welcome to redub. This short video was made on your machine. Its voice will be replaced by a new one, with captions.").CombinedOutput()
	require.NoError(t, err, "espeak-ng: %s", out)
	path := filepath.Join(dir, "demo-talk.mp4")
	out, err = exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=8", "-i", speech,
		"-filter_complex", "[1:a]apad,atrim=0:8[a]", "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path).CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)
	return path
}

// notBlank fails for a PNG that is one colour (or nearly): a page that did
// not render.
func notBlank(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, path)
	b := img.Bounds()
	require.Greater(t, b.Dx(), 100, path)
	colours := map[uint32]int{}
	var other int
	first := pixel(img, b.Min.X, b.Min.Y)
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			p := pixel(img, x, y)
			colours[p]++
			if p != first {
				other++
			}
		}
	}
	require.Greater(t, len(colours), 8, "%s has %d colours: blank?", path, len(colours))
	require.Greater(t, other, 200, "%s is nearly one colour", path)
}

func pixel(img image.Image, x, y int) uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return (r>>8)<<16 | (g>>8)<<8 | b>>8
}
