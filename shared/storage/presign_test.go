package storage

import (
	"mime"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/apperr"
)

func TestPresignPutUploadsExactlyWhatWasSigned(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Second)
	b := setup(t, Options{Now: func() time.Time { return now }})
	key := UploadKey(uuid.New(), uuid.New(), "clip.MP4")
	data := randomBytes(t, 4321)

	p, err := b.store.PresignPut(t.Context(), key, "video/mp4", int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, "PUT", p.Method)
	require.Equal(t, map[string]string{"Content-Type": "video/mp4", "Content-Length": "4321"}, p.Headers)
	require.Equal(t, now.Add(15*time.Minute), p.ExpiresAt)
	q := mustQuery(t, p.URL)
	require.Equal(t, "900", q.Get("X-Amz-Expires"))
	require.Equal(t, now.Format("20060102T150405Z"), q.Get("X-Amz-Date"))
	require.Equal(t, "content-length;content-type;host", q.Get("X-Amz-SignedHeaders"))

	require.Equal(t, 200, send(t, p.Method, p.URL, p.Headers, data).status)
	obj, err := b.store.Head(t.Context(), key)
	require.NoError(t, err)
	require.Equal(t, int64(4321), obj.Size)
	require.Equal(t, "video/mp4", obj.ContentType)
}

func TestPresignPutRefusesAnyOtherRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	const size = 1000
	data := randomBytes(t, size+1)

	tests := []struct {
		name    string
		headers func(map[string]string)
		body    []byte
		url     func(string) string
	}{
		{name: "other content type", headers: func(h map[string]string) { h["Content-Type"] = "text/html" }, body: data[:size]},
		{name: "no content type", headers: func(h map[string]string) { delete(h, "Content-Type") }, body: data[:size]},
		{name: "larger body", body: data},
		{name: "smaller body", body: data[:size-1]},
		{name: "empty body", body: []byte{}},
		{name: "key changed", body: data[:size], url: func(u string) string {
			return strings.Replace(u, "/source.mp4?", "/other.mp4?", 1)
		}},
		{name: "signature changed", body: data[:size], url: func(u string) string {
			v, err := url.Parse(u)
			require.NoError(t, err)
			q := v.Query()
			sig := []byte(q.Get("X-Amz-Signature"))
			sig[0] ^= 1
			q.Set("X-Amz-Signature", string(sig))
			v.RawQuery = q.Encode()
			return v.String()
		}},
		{name: "expiry lengthened", body: data[:size], url: func(u string) string {
			return strings.Replace(u, "X-Amz-Expires=900", "X-Amz-Expires=9000", 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prefix := UploadPrefix(uuid.New(), uuid.New())
			key := prefix + "source.mp4"
			p, err := b.store.PresignPut(t.Context(), key, "video/mp4", size)
			require.NoError(t, err)
			if tt.headers != nil {
				tt.headers(p.Headers)
			}
			u := p.URL
			if tt.url != nil {
				u = tt.url(u)
				require.NotEqual(t, p.URL, u)
			}
			resp := send(t, p.Method, u, p.Headers, tt.body)
			require.Equal(t, 403, resp.status)
			require.Equal(t, "SignatureDoesNotMatch", resp.code)
			b.requireMissing(t, key)
			b.requireMissing(t, prefix+"other.mp4")
		})
	}
}

func TestPresignPutExpires(t *testing.T) {
	t.Parallel()
	data := randomBytes(t, 10)
	for _, tt := range []struct {
		name   string
		age    time.Duration // how long ago the URL was signed
		status int
	}{
		{name: "expired", age: 16 * time.Minute, status: 403},
		{name: "long expired", age: 24 * time.Hour, status: 403},
		{name: "old but valid", age: 10 * time.Minute, status: 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			signedAt := time.Now().Add(-tt.age)
			b := setup(t, Options{Now: func() time.Time { return signedAt }})
			p, err := b.store.PresignPut(t.Context(), "uploads/x/source.bin", "application/octet-stream", 10)
			require.NoError(t, err)
			require.Equal(t, tt.status == 403, p.ExpiresAt.Before(time.Now()))
			resp := send(t, p.Method, p.URL, p.Headers, data)
			require.Equal(t, tt.status, resp.status)
			if tt.status != 200 {
				require.Equal(t, "AccessDenied", resp.code, "expired")
				b.requireMissing(t, "uploads/x/source.bin")
			}
		})
	}
}

func TestPresignPutValidates(t *testing.T) {
	t.Parallel()
	s := New(newClient("http://127.0.0.1:1"), "bucket", Options{}) // presigning makes no request
	for _, tt := range []struct {
		name        string
		contentType string
		size        int64
		want        apperr.Code
	}{
		{"empty body", "video/mp4", 0, apperr.Invalid},
		{"negative size", "video/mp4", -5, apperr.Invalid},
		{"over 5 GiB", "video/mp4", MaxPutSize + 1, apperr.TooLarge},
		{"no content type", " ", 10, apperr.Invalid},
		{"malformed content type", "video/mp4\r\nX-Evil: 1", 10, apperr.Invalid},
		{"content type without subtype", "video", 10, apperr.Invalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.PresignPut(t.Context(), "k", tt.contentType, tt.size)
			requireCode(t, tt.want, err)
		})
	}
	p, err := s.PresignPut(t.Context(), "k", "video/mp4", MaxPutSize)
	require.NoError(t, err)
	require.Equal(t, strconv.FormatInt(MaxPutSize, 10), p.Headers["Content-Length"])
}

func TestNewDefaultsAndCaps(t *testing.T) {
	t.Parallel()
	c := newClient("http://127.0.0.1:1")
	s := New(c, "b", Options{})
	require.Equal(t, 15*time.Minute, s.opts.PresignTTL)
	require.Equal(t, 5*time.Minute, s.opts.DownloadTTL)
	s = New(c, "b", Options{PresignTTL: time.Minute, DownloadTTL: 30 * 24 * time.Hour})
	require.Equal(t, time.Minute, s.opts.PresignTTL)
	require.Equal(t, 7*24*time.Hour, s.opts.DownloadTTL, "SigV4's limit")
	p, err := s.PresignGet(t.Context(), "k", "")
	require.NoError(t, err)
	require.Equal(t, "604800", mustQuery(t, p.URL).Get("X-Amz-Expires"))
}

func TestPresignGetDownloadsAsNamedAttachment(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	key := JobKey(uuid.New(), "mix", "output.mp4")
	data := randomBytes(t, 2048)
	b.put(t, key, data)

	for _, tt := range []struct{ filename, want string }{
		{"Résumé «final» 日本語.mp4", "Résumé «final» 日本語.mp4"},
		{`say "hi"; x=1\..\/evil` + "\r\nX-Injected: 1.mp4", `say _hi_; x=1_..__evil__X-Injected: 1.mp4`},
		{"plain.mp4", "plain.mp4"},
		{"", "output.mp4"},
	} {
		t.Run(tt.filename, func(t *testing.T) {
			t.Parallel()
			p, err := b.store.PresignGet(t.Context(), key, tt.filename)
			require.NoError(t, err)
			require.Equal(t, "GET", p.Method)
			require.Empty(t, p.Headers)
			require.Equal(t, contentDisposition(tt.want), mustQuery(t, p.URL).Get("response-content-disposition"),
				"the URL carries the disposition")

			resp := send(t, p.Method, p.URL, p.Headers, nil)
			require.Equal(t, 200, resp.status)
			require.Equal(t, data, resp.body)
			require.Empty(t, resp.header.Values("X-Injected"))
			disposition := resp.header.Get("Content-Disposition")
			require.Equal(t, contentDisposition(tt.want), disposition, "versitygw answers with the signed disposition")
			kind, params, err := mime.ParseMediaType(disposition)
			require.NoError(t, err)
			require.Equal(t, "attachment", kind)
			require.Equal(t, tt.want, params["filename"], "filename* decodes to the name")
		})
	}

	t.Run("tampered disposition", func(t *testing.T) {
		t.Parallel()
		p, err := b.store.PresignGet(t.Context(), key, "a.mp4")
		require.NoError(t, err)
		u := strings.Replace(p.URL, "attachment", "inline", 1)
		require.NotEqual(t, p.URL, u)
		resp := send(t, "GET", u, nil, nil)
		require.Equal(t, 403, resp.status)
		require.Equal(t, "SignatureDoesNotMatch", resp.code)
	})
	t.Run("missing key", func(t *testing.T) {
		t.Parallel()
		p, err := b.store.PresignGet(t.Context(), "jobs/none/x", "x")
		require.NoError(t, err)
		require.Equal(t, 404, send(t, "GET", p.URL, nil, nil).status)
	})
	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		old := New(b.client, b.bucket, Options{Now: func() time.Time { return time.Now().Add(-6 * time.Minute) }})
		p, err := old.PresignGet(t.Context(), key, "x")
		require.NoError(t, err)
		resp := send(t, "GET", p.URL, nil, nil)
		require.Equal(t, 403, resp.status)
		require.Equal(t, "AccessDenied", resp.code)
	})
}

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"video.mp4", `attachment; filename="video.mp4"; filename*=UTF-8''video.mp4`},
		{"my vidéo.mp4", `attachment; filename="my vid_o.mp4"; filename*=UTF-8''my%20vid%C3%A9o.mp4`},
		{`a"b\c/d.txt`, `attachment; filename="a_b_c_d.txt"; filename*=UTF-8''a_b_c_d.txt`},
		{"100%.txt", `attachment; filename="100_.txt"; filename*=UTF-8''100%25.txt`},
		{"x\ny\x00z\x7f.srt", `attachment; filename="x_y_z_.srt"; filename*=UTF-8''x_y_z_.srt`},
		{"evil\u202egpj.exe", `attachment; filename="evil_gpj.exe"; filename*=UTF-8''evil_gpj.exe`},
		{"bad\xffutf8", `attachment; filename="bad_utf8"; filename*=UTF-8''bad_utf8`},
		{"  ", `attachment; filename="download"; filename*=UTF-8''download`},
		{"..", `attachment; filename="download"; filename*=UTF-8''download`},
		{"a;b=c,d'e", `attachment; filename="a;b=c,d'e"; filename*=UTF-8''a%3Bb%3Dc%2Cd%27e`},
	} {
		require.Equal(t, tt.want, contentDisposition(tt.in), "%q", tt.in)
	}
	long := contentDisposition(strings.Repeat("é", 150))
	_, params, err := mime.ParseMediaType(long)
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("é", 100), params["filename"], "cut to 200 bytes on a rune boundary")
}

func mustQuery(t *testing.T, rawURL string) url.Values {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Query()
}
