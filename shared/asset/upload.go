package asset

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/redub/redub/shared/apperr"
	"github.com/redub/redub/shared/job"
	"github.com/redub/redub/shared/media"
	"github.com/redub/redub/shared/storage"
)

// SinglePartMax is the largest upload sent as one presigned PUT; larger ones
// are multipart.
const SinglePartMax = 100 << 20

// Objects is the part of storage the asset service uses.
type Objects interface {
	PresignPut(ctx context.Context, key, contentType string, size int64) (storage.Presigned, error)
	CreateMultipart(ctx context.Context, key, contentType string) (string, error)
	PresignParts(ctx context.Context, key, uploadID string, size int64) ([]storage.PresignedPart, error)
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []storage.CompletedPart) (storage.Object, error)
	AbortMultipart(ctx context.Context, key, uploadID string) error
	PresignGet(ctx context.Context, key, filename string) (storage.Presigned, error)
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// ActiveJobs counts a user's queued or running jobs (the job store).
type ActiveJobs interface {
	Active(ctx context.Context, userID uuid.UUID) (int, error)
}

// Service runs uploads, downloads and deletions.
type Service struct {
	Store      *Store
	Objects    Objects
	MaxBytes   int64
	DailyQuota int64
	Now        func() time.Time
	// Jobs and MaxActiveJobs refuse an upload with a recipe while the user
	// has MaxActiveJobs jobs queued or running (0: no check), as POST /jobs
	// would refuse the job its ingest starts. The check is not atomic with
	// that job's creation; the daily quota bounds what slips past it.
	Jobs          ActiveJobs
	MaxActiveJobs int
}

// UploadRequest is the body of POST /uploads.
type UploadRequest struct {
	Filename    string          `json:"filename"`
	ContentType string          `json:"content_type"`
	SizeBytes   int64           `json:"size_bytes"`
	Recipe      *string         `json:"recipe,omitempty"`
	Params      json.RawMessage `json:"params,omitempty"`
	// Multipart asks for a multipart upload below SinglePartMax too (over
	// MinMultipart), for clients that want to resume or parallelise.
	Multipart bool `json:"multipart,omitempty"`
}

// MinMultipart is the smallest upload that may be multipart (S3's part minimum).
const MinMultipart = 5 << 20

// Upload is how the client sends the bytes.
type Upload struct {
	Method    string            `json:"method"` // PUT
	URL       string            `json:"url,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	Multipart bool              `json:"multipart"`
	PartSize  int64             `json:"part_size,omitempty"`
	Parts     []UploadPart      `json:"parts,omitempty"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// UploadPart is one presigned part of a multipart upload.
type UploadPart struct {
	PartNumber int32             `json:"part_number"`
	SizeBytes  int64             `json:"size_bytes"`
	URL        string            `json:"url"`
	Headers    map[string]string `json:"headers"`
}

// UploadResponse is the answer of POST /uploads.
type UploadResponse struct {
	Asset  Asset  `json:"asset"`
	Upload Upload `json:"upload"`
}

// Validate checks an upload request and returns the cleaned content type,
// recipe and params. Every problem is an Invalid (or TooLarge) error naming
// the field.
func (s *Service) Validate(req UploadRequest) (string, *job.Recipe, job.Params, error) {
	if err := ValidateFilename(req.Filename); err != nil {
		return "", nil, job.Params{}, err
	}
	mt, _, err := mime.ParseMediaType(req.ContentType)
	if err != nil || (!strings.HasPrefix(mt, "video/") && !strings.HasPrefix(mt, "audio/")) || strings.ContainsAny(mt, " \t") {
		return "", nil, job.Params{}, apperr.InvalidField("content_type", "content_type must be a video/* or audio/* media type, not %q", req.ContentType)
	}
	// The same table ingest forces the demuxer from: what is accepted here
	// goes through every recipe.
	if !slices.Contains(media.ContentTypes(), mt) {
		return "", nil, job.Params{}, apperr.InvalidField("content_type", "content_type %q is not a supported format; supported: %s",
			mt, strings.Join(media.ContentTypes(), ", "))
	}
	switch {
	case req.SizeBytes <= 0:
		return "", nil, job.Params{}, apperr.InvalidField("size_bytes", "size_bytes must be a positive number of bytes")
	case req.SizeBytes > s.MaxBytes:
		return "", nil, job.Params{}, &apperr.Error{Code: apperr.TooLarge, Field: "size_bytes",
			Message: fmt.Sprintf("size_bytes %d is over the %d byte upload limit", req.SizeBytes, s.MaxBytes)}
	}
	if req.Recipe == nil {
		if len(req.Params) > 0 && string(req.Params) != "null" {
			return "", nil, job.Params{}, apperr.InvalidField("params", "params need a recipe")
		}
		return mt, nil, job.Params{}, nil
	}
	r, err := job.ParseRecipe(*req.Recipe)
	if err != nil {
		return "", nil, job.Params{}, err
	}
	p, err := job.ParseParams(r, req.Params)
	if err != nil {
		return "", nil, job.Params{}, err
	}
	return mt, &r, p, nil
}

// ValidateFilename refuses names that are empty, too long, not UTF-8, or hold
// control characters or path separators. The name is only ever shown back
// (and used in Content-Disposition); it never becomes part of an object key.
func ValidateFilename(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return apperr.InvalidField("filename", "filename is required")
	case len(name) > 255:
		return apperr.InvalidField("filename", "filename is longer than 255 bytes")
	case !utf8.ValidString(name):
		return apperr.InvalidField("filename", "filename is not valid UTF-8")
	case strings.ContainsAny(name, `/\`):
		return apperr.InvalidField("filename", "filename must not contain / or \\")
	case name == "." || name == ".." || strings.HasPrefix(name, "../"):
		return apperr.InvalidField("filename", "filename must be a file name, not %q", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == unicode.ReplacementChar || unicode.Is(unicode.Cf, r) {
			return apperr.InvalidField("filename", "filename must not contain control or formatting characters")
		}
	}
	return nil
}

// Start validates the request, creates the pending asset and returns how to
// upload it: one presigned PUT up to SinglePartMax, otherwise a multipart
// upload with a presigned URL per part.
func (s *Service) Start(ctx context.Context, userID uuid.UUID, req UploadRequest) (UploadResponse, error) {
	ct, recipe, params, err := s.Validate(req)
	if err != nil {
		return UploadResponse{}, err
	}
	if recipe != nil && s.Jobs != nil && s.MaxActiveJobs > 0 {
		n, err := s.Jobs.Active(ctx, userID)
		if err != nil {
			return UploadResponse{}, err
		}
		if n >= s.MaxActiveJobs {
			return UploadResponse{}, apperr.New(apperr.Conflict, "you already have %d jobs queued or running, the most one account may have at once; "+
				"wait for one to finish, or upload without a recipe and start the job later", n)
		}
	}
	a, err := s.Store.Create(ctx, NewAsset{UserID: userID, Filename: req.Filename, ContentType: ct, SizeBytes: req.SizeBytes,
		Recipe: recipe, Params: params, DailyQuota: s.DailyQuota, Now: s.now()})
	if err != nil {
		if q, ok := err.(*QuotaError); ok { //nolint:errorlint // Create returns it unwrapped
			return UploadResponse{}, q.AsAppError()
		}
		return UploadResponse{}, err
	}
	if req.Multipart && req.SizeBytes <= MinMultipart {
		return UploadResponse{}, apperr.InvalidField("multipart", "multipart uploads need more than %d bytes; send this one as a single PUT", MinMultipart)
	}
	if req.SizeBytes <= SinglePartMax && !req.Multipart {
		p, err := s.Objects.PresignPut(ctx, a.ObjectKey, ct, req.SizeBytes)
		if err != nil {
			return UploadResponse{}, fmt.Errorf("presign upload: %w", err)
		}
		return UploadResponse{Asset: a, Upload: Upload{Method: p.Method, URL: p.URL, Headers: p.Headers, ExpiresAt: p.ExpiresAt}}, nil
	}
	uploadID, err := s.Objects.CreateMultipart(ctx, a.ObjectKey, ct)
	if err != nil {
		return UploadResponse{}, fmt.Errorf("create multipart upload: %w", err)
	}
	if err := s.Store.SetUploadID(ctx, a.ID, &uploadID); err != nil {
		return UploadResponse{}, err
	}
	parts, err := s.Objects.PresignParts(ctx, a.ObjectKey, uploadID, req.SizeBytes)
	if err != nil {
		return UploadResponse{}, fmt.Errorf("presign parts: %w", err)
	}
	up := Upload{Method: "PUT", Multipart: true, PartSize: storage.PartSize(req.SizeBytes)}
	for _, p := range parts {
		up.Parts = append(up.Parts, UploadPart{PartNumber: p.PartNumber, SizeBytes: p.Size, URL: p.URL, Headers: p.Headers})
		up.ExpiresAt = p.ExpiresAt
	}
	return UploadResponse{Asset: a, Upload: up}, nil
}

// CompletePart is one uploaded part, as the client reports it.
type CompletePart struct {
	PartNumber int32  `json:"part_number"`
	ETag       string `json:"etag"`
}

// Complete finishes the user's multipart upload. A single-part upload, or
// one already completed, is a Conflict.
func (s *Service) Complete(ctx context.Context, userID, id uuid.UUID, parts []CompletePart) (Asset, error) {
	a, err := s.Store.Get(ctx, userID, id)
	if err != nil {
		return a, err
	}
	if a.Status != Pending || a.UploadID == nil {
		return a, apperr.New(apperr.Conflict, "upload %s has no multipart upload in progress", id)
	}
	if len(parts) == 0 || len(parts) > 10000 {
		return a, apperr.InvalidField("parts", "parts must list 1 to 10000 uploaded parts")
	}
	cp := make([]storage.CompletedPart, 0, len(parts))
	for i, p := range parts {
		if p.PartNumber < 1 || p.PartNumber > 10000 || strings.TrimSpace(p.ETag) == "" || len(p.ETag) > 200 {
			return a, apperr.InvalidField(fmt.Sprintf("parts[%d]", i), "each part needs a part_number from 1 to 10000 and the etag S3 returned")
		}
		cp = append(cp, storage.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag})
	}
	if _, err := s.Objects.CompleteMultipart(ctx, a.ObjectKey, *a.UploadID, cp); err != nil {
		return a, err
	}
	if err := s.Store.SetUploadID(ctx, a.ID, nil); err != nil {
		return a, err
	}
	a.UploadID = nil
	return a, nil
}

// Abort cancels the user's pending upload: the multipart upload is aborted,
// any object removed, and the asset row deleted.
func (s *Service) Abort(ctx context.Context, userID, id uuid.UUID) error {
	a, prefixes, err := s.Store.Delete(ctx, userID, id, true)
	if err != nil {
		return err
	}
	if a.UploadID != nil {
		if err := s.Objects.AbortMultipart(ctx, a.ObjectKey, *a.UploadID); err != nil {
			return fmt.Errorf("abort multipart upload: %w", err)
		}
	}
	return s.deletePrefixes(ctx, prefixes)
}

// Delete removes the user's asset with its jobs, outputs and objects.
func (s *Service) Delete(ctx context.Context, userID, id uuid.UUID) error {
	a, prefixes, err := s.Store.Delete(ctx, userID, id, false)
	if err != nil {
		return err
	}
	if a.UploadID != nil {
		_ = s.Objects.AbortMultipart(ctx, a.ObjectKey, *a.UploadID)
	}
	return s.deletePrefixes(ctx, prefixes)
}

func (s *Service) deletePrefixes(ctx context.Context, prefixes []string) error {
	for _, p := range prefixes {
		if _, err := s.Objects.DeletePrefix(ctx, p); err != nil {
			return fmt.Errorf("delete objects under %s: %w", p, err)
		}
	}
	return nil
}

// DownloadURL returns a short-lived presigned GET for the user's ready asset
// or job output.
func (s *Service) DownloadURL(ctx context.Context, userID, id uuid.UUID) (storage.Presigned, error) {
	d, err := s.Store.FindDownload(ctx, userID, id)
	if err != nil {
		return storage.Presigned{}, err
	}
	p, err := s.Objects.PresignGet(ctx, d.ObjectKey, d.Filename)
	if err != nil {
		return p, fmt.Errorf("presign download: %w", err)
	}
	return p, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
