package e2e_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/elevenlabs/elevenlabstest"
)

// turn is one line of a two-speaker source.
type turn struct {
	speaker, voice, text string
}

// dialogue makes a talking video of speakers taking turns, each line spoken
// by its own espeak-ng voice with 0.7 s between lines, and returns it with
// the script Scribe's fake should "hear": who says what, and when.
func dialogue(t testing.TB, dir string, turns []turn) (string, []elevenlabstest.Line) {
	t.Helper()
	const rate, gap = 16000, 0.7
	var pcm []byte
	var script []elevenlabstest.Line
	pad := func(sec float64) { pcm = append(pcm, make([]byte, 2*int(sec*rate))...) }
	pad(0.5)
	for i, tu := range turns {
		raw := filepath.Join(dir, fmt.Sprintf("line-%d.raw", i))
		wav := filepath.Join(dir, fmt.Sprintf("line-%d.wav", i))
		out, err := exec.Command("espeak-ng", "-v", "en+"+tu.voice, "-w", wav, tu.text).CombinedOutput()
		require.NoError(t, err, "%s", out)
		ffmpeg(t, "-i", wav, "-f", "s16le", "-ac", "1", "-ar", "16000", raw)
		b, err := os.ReadFile(raw)
		require.NoError(t, err)
		start := float64(len(pcm)/2) / rate
		pcm = append(pcm, b...)
		script = append(script, elevenlabstest.Line{Speaker: tu.speaker, Text: tu.text, Start: start, End: float64(len(pcm)/2) / rate})
		pad(gap)
	}
	wav := filepath.Join(dir, "dialogue.wav")
	hdr := make([]byte, 0, 44)
	le := binary.LittleEndian
	hdr = append(hdr, "RIFF"...)
	hdr = le.AppendUint32(hdr, uint32(36+len(pcm)))
	hdr = append(hdr, "WAVEfmt "...)
	hdr = le.AppendUint32(hdr, 16)
	hdr = le.AppendUint16(hdr, 1)
	hdr = le.AppendUint16(hdr, 1)
	hdr = le.AppendUint32(hdr, rate)
	hdr = le.AppendUint32(hdr, rate*2)
	hdr = le.AppendUint16(hdr, 2)
	hdr = le.AppendUint16(hdr, 16)
	hdr = append(hdr, "data"...)
	hdr = le.AppendUint32(hdr, uint32(len(pcm)))
	require.NoError(t, os.WriteFile(wav, append(hdr, pcm...), 0o600))
	seconds := float64(len(pcm)/2) / rate
	path := filepath.Join(dir, "dialogue.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=640x360:r=25:d=%.2f", seconds), "-i", wav,
		"-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path)
	return path, script
}

func twoSpeakerTurns() []turn {
	return []turn{
		{"speaker_0", "m3", "Good morning, and welcome to the show."},
		{"speaker_1", "f3", "Thank you so much for having me on the show today."},
		{"speaker_0", "m3", "Tell us a little about your new project."},
		{"speaker_1", "f3", "We built a tool that dubs videos. It speaks many languages."},
	}
}

type transcriptFile struct {
	Language string
	Engine   string
	Segments []struct {
		ID         int
		Start, End float64
		Text       string
		Speaker    string
	}
}

// A two-speaker source through the local stack with ElevenLabs' fake:
// Scribe (picked by auto) tells the speakers apart, the transcript and the
// WebVTT captions carry their labels, and the voiceover speaks each with
// its own voice, as the requests the fake received show.
func TestTwoSpeakers(t *testing.T) {
	t.Parallel()
	el := elevenlabstest.New(t)
	e := start(t, map[string]string{"ELEVENLABS_API_KEY": el.APIKey, "ELEVENLABS_BASE_URL": el.URL})
	token, _ := e.login(t, "duo@example.com")
	dir := t.TempDir()
	src, script := dialogue(t, dir, twoSpeakerTurns())
	el.SetScript(script)

	asset := e.uploadFile(t, token, src, "video/mp4", map[string]any{"recipe": "voiceover",
		"params": map[string]any{"num_speakers": 2, "keyterms": []string{"redub"}}})
	j := e.waitJob(t, token, e.jobOf(t, token, asset), 4*time.Minute)
	require.Equal(t, "succeeded", j.Status, "%+v", j)

	stt := el.STTRequests()
	require.Len(t, stt, 1, "one Scribe request")
	require.True(t, stt[0].Diarize)
	require.Equal(t, 2, stt[0].NumSpeakers)
	require.Equal(t, []string{"redub"}, stt[0].Keyterms)
	require.Equal(t, "scribe_v2", stt[0].ModelID)

	outs := outputsByKind(j)
	var tr transcriptFile
	path := filepath.Join(dir, "transcript.json")
	e.fetch(t, token, outs["transcript"], path)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &tr))
	require.Equal(t, "elevenlabs", tr.Engine)
	bySpeaker := map[string][]string{}
	for _, s := range tr.Segments {
		bySpeaker[s.Speaker] = append(bySpeaker[s.Speaker], s.Text)
	}
	require.Equal(t, map[string][]string{
		"Speaker 1": {"Good morning, and welcome to the show.", "Tell us a little about your new project."},
		"Speaker 2": {"Thank you so much for having me on the show today.", "We built a tool that dubs videos.", "It speaks many languages."},
	}, bySpeaker, "segments split at sentence ends and speaker changes")

	vttPath := filepath.Join(dir, "captions.vtt")
	e.fetch(t, token, outs["vtt"], vttPath)
	vtt, err := os.ReadFile(vttPath)
	require.NoError(t, err)
	require.Contains(t, string(vtt), "<v Speaker 1>Good morning, and welcome to the show.</v>")
	require.Contains(t, string(vtt), "<v Speaker 2>It speaks many languages.</v>")

	// Every line was voiced once, each speaker in one voice, the two voices different.
	voiceOf := map[string]map[string]bool{}
	speakerOf := map[string]string{}
	for _, s := range tr.Segments {
		speakerOf[s.Text] = s.Speaker
	}
	reqs := el.Requests()
	require.Len(t, reqs, len(tr.Segments))
	for _, r := range reqs {
		var body struct{ Text string }
		require.NoError(t, json.Unmarshal(r.Body, &body))
		sp := speakerOf[strings.TrimSpace(body.Text)]
		require.NotEmpty(t, sp, "voiced text %q is a transcript line", body.Text)
		if voiceOf[sp] == nil {
			voiceOf[sp] = map[string]bool{}
		}
		voiceOf[sp][r.VoiceID] = true
	}
	require.Len(t, voiceOf, 2)
	require.Len(t, voiceOf["Speaker 1"], 1)
	require.Len(t, voiceOf["Speaker 2"], 1)
	require.NotEqual(t, voiceOf["Speaker 1"], voiceOf["Speaker 2"], "two speakers, two voice ids")

	mp4 := filepath.Join(dir, "voiceover.mp4")
	e.fetch(t, token, outs["voiceover"], mp4)
	p := probe(t, mp4)
	require.InDelta(t, script[len(script)-1].End+0.7, seconds(t, p.Format.Duration), 0.5)
}
