package steps

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/ledger"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/pipeline"
	"github.com/redub/redub/shared/script"
	"github.com/redub/redub/shared/storage"
)

// Objects is the part of storage the steps use.
type Objects interface {
	Get(ctx context.Context, key string) (io.ReadCloser, storage.Object, error)
	Put(ctx context.Context, key, contentType string, body io.Reader, size int64) error
	Head(ctx context.Context, key string) (storage.Object, error)
	Copy(ctx context.Context, src, dst string, size int64, etag string) error
	Delete(ctx context.Context, keys ...string) error
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// Edits reads a job's segment edits (job.Store).
type Edits interface {
	Edits(ctx context.Context, jobID uuid.UUID) (map[int]job.Edit, error)
}

// Deps is what the steps share.
type Deps struct {
	Objects Objects
	Media   *media.Runner
	Ledger  *ledger.Ledger
	Log     *slog.Logger
	Limits  media.Limits
	Edits   Edits // for re-renders (revision 2 and later)
}

// script loads the job's script with its edits (a re-render's input).
func (d *Deps) script(ctx context.Context, sc *pipeline.Context) (script.Script, map[int]job.Edit, error) {
	edits, err := d.Edits.Edits(ctx, sc.Job.ID)
	if err != nil {
		return script.Script{}, nil, err
	}
	sp, err := script.Load(ctx, d.Objects, sc.Job, edits)
	return sp, edits, err
}

// download copies an object into dir and returns the local path.
func (d *Deps) download(ctx context.Context, key, dir, name string) (string, error) {
	body, _, err := d.Objects.Get(ctx, key)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", key, err)
	}
	defer body.Close()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", key, err)
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return "", fmt.Errorf("download %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("download %s: %w", key, err)
	}
	return path, nil
}

// upload stores a local file under key and describes it as an output.
func (d *Deps) upload(ctx context.Context, path, key, kind, filename, contentType string) (pipeline.Output, error) {
	f, err := os.Open(path)
	if err != nil {
		return pipeline.Output{}, fmt.Errorf("upload %s: %w", kind, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return pipeline.Output{}, fmt.Errorf("upload %s: %w", kind, err)
	}
	if err := d.Objects.Put(ctx, key, contentType, f, st.Size()); err != nil {
		return pipeline.Output{}, fmt.Errorf("upload %s: %w", kind, err)
	}
	return pipeline.Output{Kind: kind, Key: key, Filename: filename, ContentType: contentType, SizeBytes: st.Size()}, nil
}

// putBytes stores b under key.
func (d *Deps) putBytes(ctx context.Context, key, contentType string, b []byte) error {
	if err := d.Objects.Put(ctx, key, contentType, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// getBytes reads a whole (small) object.
func (d *Deps) getBytes(ctx context.Context, key string) ([]byte, error) {
	body, _, err := d.Objects.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// runOptions are FFmpeg options for a step: its budget (what is left of the
// step's deadline), progress and cancellation.
func (d *Deps) runOptions(ctx context.Context, sc *pipeline.Context, step, stage string, dur time.Duration, from, to float64) media.RunOptions {
	var budget time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		budget = max(time.Until(deadline), time.Millisecond)
	}
	return media.RunOptions{
		Timeout:  budget,
		Duration: dur,
		OnProgress: func(p float64) {
			sc.Progress(ctx, step, from+(to-from)*p/100, stage)
		},
		Cancel: func() bool { return sc.Canceled(ctx) },
	}
}

// baseName is the user's filename without its extension, for output names.
func baseName(filename string) string {
	b := filename[:len(filename)-len(filepath.Ext(filename))]
	if b == "" {
		return "media"
	}
	return b
}
