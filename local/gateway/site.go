package gateway

import (
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

// Site serves the built web app (web/dist) for the GET and HEAD requests no
// API route matches, as the CloudFront distribution does in AWS: files as
// they are, /app/... falling back to the console's app/index.html, and the
// same caching and security headers (hashed files under /static/ cached for
// a year, pages not cached).
type Site struct {
	Dir string // the built files, e.g. <repo>/web/dist
	// Storage is the S3 endpoint's origin (e.g. http://127.0.0.1:3900): the
	// browser uploads to and plays from presigned URLs there, so the
	// Content-Security-Policy allows it for connect-src, img-src and media-src.
	Storage string
}

// CSP is the Content-Security-Policy of the web app; storage is the origin
// of the presigned URLs. The template's response headers policy says the same.
func CSP(storage string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: " + storage +
		"; media-src 'self' blob: " + storage + "; connect-src 'self' " + storage +
		"; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
}

func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	clean := path.Clean("/" + r.URL.Path)
	file, ok := s.find(clean)
	if !ok {
		if _, err := fs.Stat(os.DirFS(s.Dir), "index.html"); err != nil {
			message(w, http.StatusNotFound, "Not Found (the web app is not built: run `make web`)")
			return
		}
		message(w, http.StatusNotFound, "Not Found")
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", CSP(s.Storage))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("X-Frame-Options", "DENY")
	if strings.HasPrefix(clean, "/static/") {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, os.DirFS(s.Dir), file)
}

// find maps a clean URL path to a file name under Dir (in io/fs form, so
// it cannot leave Dir): the file itself, a folder's index.html, or for
// /app/... the console's index.html.
func (s *Site) find(clean string) (string, bool) {
	name := strings.TrimPrefix(clean, "/")
	candidates := []string{name, path.Join(name, "index.html")}
	if clean == "/app" || strings.HasPrefix(clean, "/app/") {
		candidates = append(candidates, "app/index.html")
	}
	fsys := os.DirFS(s.Dir)
	for _, c := range candidates {
		if c == "" || !fs.ValidPath(c) {
			continue
		}
		if st, err := fs.Stat(fsys, c); err == nil && st.Mode().IsRegular() {
			return c, true
		}
	}
	return "", false
}
