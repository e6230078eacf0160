package steps

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/openai"
	"github.com/redub/redub/shared/openai/openaitest"
	"github.com/redub/redub/shared/provider"
	"github.com/redub/redub/shared/speech"
)

// Audio over the upload limit is cut into pieces, each transcribed by the
// real client against a server that speaks OpenAI's API, and the segments
// come back on the original timeline.
func TestStitchPiecesOnTheOriginalTimeline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wav := filepath.Join(dir, "speech.wav")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=10",
		"-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", wav).CombinedOutput()
	require.NoError(t, err, "%s", out)

	const piece = 100_000 // about 3.1 s of 16 kHz mono PCM: four pieces
	chunks, err := media.SplitWAV(context.Background(), wav, dir, piece)
	require.NoError(t, err)
	require.Len(t, chunks, 4)

	// run stitches the pieces limit at a time, through a pacer of that
	// limit, against a fake that is slow enough for requests to overlap.
	run := func(limit int) (speech.Transcript, float64, *openaitest.Server) {
		fake := openaitest.New(t)
		fake.SetDelay(200 * time.Millisecond)
		client := openai.New(fake.URL, fake.APIKey, &http.Client{})
		client.Policy.Pacer = provider.NewPacer(limit)
		engine := &speech.Whisper{Client: client}
		tr, paid, err := stitch(context.Background(), chunks, limit, func(ctx context.Context, i int, c media.Chunk) (speech.Transcript, bool, error) {
			part, _, err := engine.Transcribe(ctx, c.Path, speech.Request{})
			return part, i == 3, err // pretend the ledger had the last piece already
		})
		require.NoError(t, err)
		require.Equal(t, 4, fake.Calls().Transcriptions, "one request per piece")
		require.LessOrEqual(t, fake.MaxInFlight(), limit, "never more pieces in flight than the limit")
		return tr, paid, fake
	}
	tr, paid, _ := run(1)
	parallel, parallelPaid, fake := run(3)
	require.Greater(t, fake.MaxInFlight(), 1, "pieces were transcribed in parallel")
	require.Equal(t, tr, parallel, "the same transcript as one piece after the other")
	require.InDelta(t, paid, parallelPaid, 1e-9)
	require.InDelta(t, 10.0, tr.Duration, 0.05)
	require.NotEmpty(t, tr.Segments)
	for i, s := range tr.Segments {
		require.Equal(t, i, s.ID, "ids run on across pieces")
		require.Less(t, s.Start, s.End)
		if i > 0 {
			require.GreaterOrEqual(t, s.Start, tr.Segments[i-1].End-0.001, "segments stay in order on the original timeline")
		}
	}
	last := tr.Segments[len(tr.Segments)-1]
	require.InDelta(t, 10.0, last.End, 0.05, "the last segment ends where the audio ends")
	require.InDelta(t, 10.0-chunks[3].Duration.Seconds(), paid, 0.05, "the reused piece is not counted as paid")
	// The first segment of the second piece starts where that piece starts.
	var second float64 = -1
	for _, s := range tr.Segments {
		if s.Start >= chunks[1].Start.Seconds()-0.001 {
			second = s.Start
			break
		}
	}
	require.InDelta(t, chunks[1].Start.Seconds(), second, 0.001)
}

// inParallel stops at the first error, and runs again, alone, what the
// ledger found in flight.
func TestInParallel(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	runs := map[int]int{}
	err := inParallel(context.Background(), 3, 6, func(_ context.Context, i int) error {
		mu.Lock()
		defer mu.Unlock()
		runs[i]++
		if i == 4 && runs[i] == 1 {
			return &ledger.InFlightError{Provider: "elevenlabs", Operation: "tts"}
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, map[int]int{0: 1, 1: 1, 2: 1, 3: 1, 4: 2, 5: 1}, runs, "the one in flight ran again")

	boom := errors.New("boom")
	var started sync.Map
	release := make(chan struct{})
	err = inParallel(context.Background(), 2, 100, func(ctx context.Context, i int) error {
		started.Store(i, true)
		if i == 1 {
			close(release)
			return boom
		}
		<-release
		require.NoError(t, ctx.Err(), "a call in flight is left to finish (and be recorded), not canceled")
		return nil
	})
	require.ErrorIs(t, err, boom)
	n := 0
	started.Range(func(any, any) bool { n++; return true })
	require.Less(t, n, 100, "nothing new starts after an error")
}
