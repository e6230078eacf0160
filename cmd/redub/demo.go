package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redub/redub/local/stack"
	"github.com/redub/redub/shared/captions"
)

// runDemo runs the product's main job offline, like a client would: it
// makes a short talking video, uploads it through the API with the
// voiceover recipe, follows the job step by step, and checks the outputs.
// It starts the local stack when none is running.
func runDemo(ctx context.Context, _ []string, env *environ) error {
	root, err := findRoot()
	if err != nil {
		return err
	}
	stateDir := filepath.Join(root, ".dev")
	api := ""
	if st, err := stack.ReadState(stateDir); err == nil {
		if _, err := control(ctx, env.client(), http.MethodGet, st.ControlURL+"/status", nil); err == nil {
			api = st.APIURL
			fmt.Fprintln(env.stdout, "demo: using the running local stack at", api)
		}
	}
	if api == "" {
		fmt.Fprintln(env.stdout, "demo: starting the local stack (logs in .dev/demo/stack.log)")
		if err := os.MkdirAll(filepath.Join(stateDir, "demo"), 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		logf, err := os.Create(filepath.Join(stateDir, "demo", "stack.log"))
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer logf.Close()
		ports := stack.DefaultPorts
		st, err := stack.Start(ctx, stack.Options{Root: root, StateDir: stateDir, Ports: ports, Getenv: env.getenv, Out: logf})
		if err != nil {
			return err
		}
		defer st.Stop(context.WithoutCancel(ctx))
		api = st.APIURL()
	}
	d := &demo{api: api, out: env.stdout, dir: filepath.Join(stateDir, "demo"), client: env.client()}
	return d.run(ctx)
}

type demo struct {
	api    string
	out    io.Writer
	dir    string
	token  string
	client *http.Client // newHTTPClient: waits out Retry-After
}

func (d *demo) run(ctx context.Context) error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	src, err := d.sample(ctx)
	if err != nil {
		return err
	}
	var login struct{ Token string }
	if err := d.call(ctx, "POST", "/auth/dev-login", map[string]string{"email": "demo@redub.local", "name": "Demo"}, nil, &login); err != nil {
		return err
	}
	d.token = login.Token
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var up struct {
		Asset  struct{ ID string }
		Upload struct {
			URL     string
			Headers map[string]string
		}
	}
	start := time.Now()
	if err := d.call(ctx, "POST", "/uploads", map[string]any{"filename": "demo-talk.mp4", "content_type": "video/mp4",
		"size_bytes": len(data), "recipe": "voiceover"}, nil, &up); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, up.Upload.URL, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	req.Header.Set("Content-Type", up.Upload.Headers["Content-Type"])
	res, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("demo: upload: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("demo: upload answered %d", res.StatusCode)
	}
	fmt.Fprintf(d.out, "demo: uploaded %s (%d bytes) as asset %s\n", filepath.Base(src), len(data), up.Asset.ID)

	j, err := d.follow(ctx, up.Asset.ID, start)
	if err != nil {
		return err
	}
	return d.check(ctx, j)
}

// sample makes 8 s of a test pattern with espeak-ng speech.
func (d *demo) sample(ctx context.Context) (string, error) {
	speech := filepath.Join(d.dir, "speech.wav")
	text := "Welcome to redub. This short video was made on your machine. Its voice will be replaced by a new one, with captions."
	if out, err := exec.CommandContext(ctx, "espeak-ng", "-w", speech, text).CombinedOutput(); err != nil {
		return "", fmt.Errorf("demo: espeak-ng (apt-get install espeak-ng): %w: %s", err, out)
	}
	path := filepath.Join(d.dir, "demo-talk.mp4")
	args := []string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=8", "-i", speech,
		"-filter_complex", "[1:a]apad,atrim=0:8[a]", "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path}
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("demo: ffmpeg (apt-get install ffmpeg): %w: %s", err, out)
	}
	return path, nil
}

type demoJob struct {
	ID     string
	Status string
	Error  *string
	Steps  []struct {
		Name, Status string
		Progress     float64
		StartedAt    *time.Time `json:"started_at"`
		FinishedAt   *time.Time `json:"finished_at"`
	}
	Outputs []struct{ ID, Kind, Filename string }
}

// follow waits for the upload's job and prints each step as it changes.
func (d *demo) follow(ctx context.Context, assetID string, start time.Time) (demoJob, error) {
	deadline := time.Now().Add(5 * time.Minute)
	var j demoJob
	seen := map[string]string{}
	for time.Now().Before(deadline) {
		if j.ID == "" {
			var page struct {
				Items []struct {
					ID      string
					AssetID string `json:"asset_id"`
				}
			}
			if err := d.call(ctx, "GET", "/jobs", nil, nil, &page); err != nil {
				return j, err
			}
			for _, it := range page.Items {
				if it.AssetID == assetID {
					j.ID = it.ID
				}
			}
			var a struct {
				Status       string
				RejectReason *string `json:"reject_reason"`
			}
			if err := d.call(ctx, "GET", "/assets/"+assetID, nil, nil, &a); err != nil {
				return j, err
			}
			if a.Status == "rejected" {
				return j, fmt.Errorf("demo: the upload was rejected: %s", deref(a.RejectReason))
			}
		} else {
			if err := d.call(ctx, "GET", "/jobs/"+j.ID, nil, nil, &j); err != nil {
				return j, err
			}
			for _, s := range j.Steps {
				if seen[s.Name] != s.Status {
					seen[s.Name] = s.Status
					took := ""
					if s.StartedAt != nil && s.FinishedAt != nil {
						took = fmt.Sprintf(" in %.2fs", s.FinishedAt.Sub(*s.StartedAt).Seconds())
					}
					fmt.Fprintf(d.out, "demo: %6.1fs  %-11s %s%s\n", time.Since(start).Seconds(), s.Name, s.Status, took)
				}
			}
			switch j.Status {
			case "succeeded":
				fmt.Fprintf(d.out, "demo: job %s succeeded in %.1fs\n", j.ID, time.Since(start).Seconds())
				return j, nil
			case "failed", "canceled":
				return j, fmt.Errorf("demo: job %s %s: %s", j.ID, j.Status, deref(j.Error))
			}
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return j, errors.New("demo: the job did not finish within 5 minutes")
}

// check downloads the outputs, prints their URLs, and verifies the voiceover
// (video + one audio track of the source's length + captions) and the SRT.
func (d *demo) check(ctx context.Context, j demoJob) error {
	urls := map[string]string{}
	for _, o := range j.Outputs {
		var dl struct{ URL string }
		if err := d.call(ctx, "GET", "/assets/"+o.ID+"/download", nil, nil, &dl); err != nil {
			return err
		}
		urls[o.Kind] = dl.URL
		fmt.Fprintf(d.out, "demo: %-11s %s\n           %s\n", o.Kind, o.Filename, dl.URL)
	}
	for _, k := range []string{"voiceover", "srt"} {
		if urls[k] == "" {
			return fmt.Errorf("demo: no %s output", k)
		}
	}
	video := filepath.Join(d.dir, "voiceover.mp4")
	if err := d.fetch(ctx, urls["voiceover"], video); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_type:format=duration", "-of", "json", video).Output()
	if err != nil {
		return fmt.Errorf("demo: ffprobe the voiceover: %w", err)
	}
	var p struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
		}
		Format struct{ Duration string }
	}
	if err := json.Unmarshal(out, &p); err != nil {
		return fmt.Errorf("demo: ffprobe output: %w", err)
	}
	kinds := map[string]int{}
	for _, s := range p.Streams {
		kinds[s.CodecType]++
	}
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	if kinds["video"] != 1 || kinds["audio"] != 1 || kinds["subtitle"] != 1 || dur < 7.5 || dur > 8.5 {
		return fmt.Errorf("demo: the voiceover is not right: streams %v, %.2fs (want 1 video, 1 audio, 1 subtitle, about 8 s)", kinds, dur)
	}
	srt := filepath.Join(d.dir, "captions.srt")
	if err := d.fetch(ctx, urls["srt"], srt); err != nil {
		return err
	}
	b, err := os.ReadFile(srt)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cues, err := captions.ParseSRT(b)
	if err != nil {
		return fmt.Errorf("demo: the captions do not parse: %w", err)
	}
	fmt.Fprintf(d.out, "demo: ok: %s has 1 video, 1 audio and 1 caption track, %.2fs; %d caption cues (saved in %s)\n",
		filepath.Base(video), dur, len(cues), d.dir)
	return nil
}

func (d *demo) call(ctx context.Context, method, path string, body any, headers map[string]string, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.api+path, r)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("demo: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("demo: %s %s answered %d: %s", method, path, res.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("demo: %s %s: %w", method, path, err)
		}
	}
	return nil
}

func (d *demo) fetch(ctx context.Context, url, dest string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	res, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("demo: download: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("demo: download answered %d", res.StatusCode)
	}
	f, err := os.Create(dest)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return fmt.Errorf("demo: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
