package storage

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/redub/redub/shared/apperr"
)

// Presigned is a request a client may make without credentials: Method on
// URL, sending exactly Headers (they are part of the signature), before
// ExpiresAt.
type Presigned struct {
	URL       string
	Method    string
	Headers   map[string]string
	ExpiresAt time.Time
}

// PresignPut returns a URL for one PUT of exactly size bytes of contentType
// at key. Both are signed: S3 answers 403 to a request with another
// Content-Type or Content-Length. Headers holds the Content-Type and
// Content-Length the client must send. size must be 1 byte to MaxPutSize
// (apperr.Invalid, apperr.TooLarge): an empty body would leave the length
// unsigned, and larger files need multipart. contentType must be a
// well-formed media type (apperr.Invalid); which types are allowed is the
// caller's policy.
func (s *Store) PresignPut(ctx context.Context, key, contentType string, size int64) (Presigned, error) {
	if err := checkUpload(contentType, size, MaxPutSize); err != nil {
		return Presigned{}, fmt.Errorf("presign put %s: %w", key, err)
	}
	now := s.opts.Now()
	req, err := s.sign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, ContentType: &contentType, ContentLength: &size,
	}, s.presignAt(now, s.opts.PresignTTL))
	if err != nil {
		return Presigned{}, fmt.Errorf("presign put %s: %w", key, err)
	}
	return presigned(req, now.Add(s.opts.PresignTTL)), nil
}

// PresignGet returns a URL that downloads key as an attachment named
// filename: S3 answers it with a Content-Disposition carrying filename both
// as a plain ASCII fallback and, for non-ASCII names, UTF-8 encoded per
// RFC 5987 (filename*). Quotes, backslashes, slashes and control characters
// in filename are replaced; an empty filename becomes key's base name. The
// URL does not check that key exists: a missing key answers 404.
func (s *Store) PresignGet(ctx context.Context, key, filename string) (Presigned, error) {
	if filename == "" {
		filename = path.Base(key)
	}
	now := s.opts.Now()
	req, err := s.sign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: &s.bucket, Key: &key,
		ResponseContentDisposition: aws.String(contentDisposition(filename)),
	}, s.presignAt(now, s.opts.DownloadTTL))
	if err != nil {
		return Presigned{}, fmt.Errorf("presign get %s: %w", key, err)
	}
	return presigned(req, now.Add(s.opts.DownloadTTL)), nil
}

// presignAt makes a presign call sign at now, valid for ttl.
func (s *Store) presignAt(now time.Time, ttl time.Duration) func(*s3.PresignOptions) {
	return func(o *s3.PresignOptions) {
		o.Presigner = fixedClock{signer: s.signer, now: now}
		o.Expires = ttl
	}
}

// fixedClock is an s3.HTTPPresignerV4 that signs at a given time, not the
// SDK's clock, so ExpiresAt is exact and tests can sign in the past.
type fixedClock struct {
	signer *v4.Signer
	now    time.Time
}

func (p fixedClock) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.now, optFns...)
}

func presigned(req *v4.PresignedHTTPRequest, expires time.Time) Presigned {
	headers := make(map[string]string, len(req.SignedHeader))
	for name, values := range req.SignedHeader {
		if name == "Host" || len(values) == 0 {
			continue // the client sets Host from the URL
		}
		headers[http.CanonicalHeaderKey(name)] = strings.Join(values, ",")
	}
	return Presigned{URL: req.URL, Method: req.Method, Headers: headers, ExpiresAt: expires}
}

func checkUpload(contentType string, size, limit int64) error {
	if err := checkContentType(contentType); err != nil {
		return err
	}
	return checkSize(size, 1, limit)
}

func checkContentType(contentType string) error {
	if strings.TrimSpace(contentType) == "" {
		return apperr.InvalidField("content_type", "a content type is required")
	}
	if media, _, err := mime.ParseMediaType(contentType); err != nil || !strings.Contains(media, "/") {
		return apperr.InvalidField("content_type", "content type %q is malformed", contentType)
	}
	return nil
}

// maxFilenameBytes caps the name in Content-Disposition; browsers and file
// systems choke on longer ones.
const maxFilenameBytes = 200

// contentDisposition returns an attachment Content-Disposition for filename
// (RFC 6266), the name twice: as a quoted ASCII fallback and as UTF-8,
// percent-encoded per RFC 5987:
//
//	attachment; filename="my vid_o.mp4"; filename*=UTF-8''my%20vid%C3%A9o.mp4
//
// Invalid UTF-8 is repaired, control characters (bidi controls included),
// quotes, backslashes and slashes become "_", and the name is cut to 200
// bytes; the fallback also replaces non-ASCII characters and "%" (which
// some browsers decode) with "_".
func contentDisposition(filename string) string {
	name := cleanFilename(filename)
	var fallback strings.Builder
	for _, r := range name {
		if r > unicode.MaxASCII || r == '%' {
			r = '_'
		}
		fallback.WriteRune(r)
	}
	return `attachment; filename="` + fallback.String() + `"; filename*=UTF-8''` + encodeRFC5987(name)
}

func cleanFilename(filename string) string {
	name := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '\\' || r == '/' || r == utf8.RuneError ||
			unicode.Is(unicode.Bidi_Control, r) { // U+202E and friends disguise extensions
			return '_'
		}
		return r
	}, strings.ToValidUTF8(filename, "_"))
	name = strings.TrimSpace(name)
	for len(name) > maxFilenameBytes {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." {
		return "download"
	}
	return name
}

// encodeRFC5987 percent-encodes s as an RFC 5987 value-chars: every byte
// but attr-char.
func encodeRFC5987(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func isAttrChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
