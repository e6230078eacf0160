package obs_test

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/redub/redub/shared/obs"
)

func ExampleNewLogger() {
	logger := obs.NewLogger(os.Stdout, slog.LevelInfo)
	logger = slog.New(noTime{logger.Handler()}) // only so the output is stable

	ctx := obs.With(context.Background(), obs.RequestID, "c6af9ac6")
	ctx = obs.With(ctx, obs.JobID, "job-42")
	logger.InfoContext(ctx, "job claimed", "attempt", 1)
	logger.DebugContext(ctx, "below the level: dropped")
	// Output:
	// {"level":"INFO","msg":"job claimed","attempt":1,"job_id":"job-42","request_id":"c6af9ac6"}
}

// noTime clears the record's time, which slog's JSON handler then omits.
type noTime struct{ slog.Handler }

func (h noTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return h.Handler.Handle(ctx, r)
}
