package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/httpapi"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/script"
	"github.com/redub/redub/shared/storage"
)

// Objects builds the storage client the transcript routes read with.
func (d *Deps) Objects(ctx context.Context) (*storage.Store, error) {
	awsCfg, err := d.App.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return storage.New(storage.NewClient(awsCfg, d.App.Getenv), d.App.Config.StorageBucket, storage.Options{}), nil
}

// loadScript reads the user's job (404 for another's) and its script.
func loadScript(ctx context.Context, store *job.Store, objs script.Objects, u, id uuid.UUID) (script.Script, error) {
	j, err := store.Get(ctx, u, id)
	if err != nil {
		return script.Script{}, err
	}
	if j.Recipe == job.Transcode {
		return script.Script{}, apperr.New(apperr.Conflict, "a transcode job has no transcript")
	}
	edits, err := store.Edits(ctx, id)
	if err != nil {
		return script.Script{}, err
	}
	return script.Load(ctx, objs, j, edits)
}

// GetTranscript is GET /jobs/{id}/transcript.
func GetTranscript(store *job.Store, objs script.Objects) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, _ *http.Request, u, id uuid.UUID) error {
		s, err := loadScript(ctx, store, objs, u, id)
		if err != nil {
			return err
		}
		httpapi.JSON(w, http.StatusOK, s)
		return nil
	})
}

// SegmentEdit is the body of PATCH /jobs/{id}/segments/{n}: the fields to
// change.
type SegmentEdit struct {
	Text        *string  `json:"text"`
	Translation *string  `json:"translation"`
	Speaker     *string  `json:"speaker"`
	Voice       *string  `json:"voice"`
	Start       *float64 `json:"start"`
	End         *float64 `json:"end"`
}

// maxSegmentText bounds an edited text: a caption-sized segment is far shorter.
const maxSegmentText = 1000

// EditSegment is PATCH /jobs/{id}/segments/{n}.
func EditSegment(store *job.Store, objs script.Objects) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, r *http.Request, u, id uuid.UUID) error {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 || strconv.Itoa(n) != r.PathValue("n") {
			return apperr.InvalidField("n", "n must be a segment number (0, 1, ...)")
		}
		var body SegmentEdit
		if err := httpapi.Decode(w, r, &body, 16<<10); err != nil {
			return err
		}
		e := job.Edit{Segment: n, Speaker: body.Speaker, Voice: body.Voice, Start: body.Start, End: body.End}
		for _, f := range []struct {
			name string
			v    *string
			dst  **string
		}{{"text", body.Text, &e.Text}, {"translation", body.Translation, &e.Translation}} {
			if f.v == nil {
				continue
			}
			t := strings.TrimSpace(*f.v)
			if t == "" || utf8.RuneCountInString(t) > maxSegmentText || strings.ContainsAny(t, "\x00\r") {
				return apperr.InvalidField(f.name, "%s must be 1 to %d characters", f.name, maxSegmentText)
			}
			*f.dst = &t
		}
		if e.Speaker != nil && !job.ValidSpeaker(*e.Speaker) {
			return apperr.InvalidField("speaker", "speaker must be a label from \"Speaker 1\" to \"Speaker 32\"")
		}
		if e.Voice != nil && !job.ValidVoice(*e.Voice) {
			return apperr.InvalidField("voice", "voice must be 1-64 letters, digits, '-' or '_'")
		}
		if e.Text == nil && e.Translation == nil && e.Speaker == nil && e.Voice == nil && e.Start == nil && e.End == nil {
			return apperr.InvalidField("body", "name at least one of text, translation, speaker, voice, start or end")
		}
		s, err := loadScript(ctx, store, objs, u, id)
		if err != nil {
			return err
		}
		saved, err := store.SaveEdit(ctx, u, id, e, s.Check)
		if err != nil {
			return err
		}
		for _, l := range s.Segments {
			if l.N == n {
				s.Segments = []script.Line{l}
			}
		}
		after := s.Segments[0]
		edited, _ := script.Apply(after, saved)
		httpapi.JSON(w, http.StatusOK, edited)
		return nil
	})
}

// Rerender is POST /jobs/{id}/rerender. The Idempotency-Key header is
// required: a new revision answers 202, the same key again 200 with the
// job as it is.
func Rerender(store *job.Store, q job.Enqueuer, log *slog.Logger) http.Handler {
	return idAction(func(ctx context.Context, w http.ResponseWriter, r *http.Request, u, id uuid.UUID) error {
		key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
		if key == "" || len(key) > 255 {
			return apperr.InvalidField("Idempotency-Key", "the Idempotency-Key header is required (1-255 characters, e.g. a UUID)")
		}
		j, next, created, err := store.Rerender(ctx, u, id, key)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusAccepted
			if err := store.Send(ctx, q, *next); err != nil {
				log.WarnContext(ctx, "send the re-render's synthesize step failed; the sweeper will retry", "job_id", id.String(), "error", err.Error())
			}
		}
		w.Header().Set("Location", "/jobs/"+id.String())
		httpapi.JSON(w, status, j)
		return nil
	})
}
