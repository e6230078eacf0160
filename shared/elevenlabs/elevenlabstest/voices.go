package elevenlabstest

import (
	"mime"
	"net/http"
	"slices"
	"strings"
)

// Clone is an instant voice clone made at the fake.
type Clone struct {
	VoiceID, Name string
	Samples       int // files[] received
	Deleted       bool
}

// Clones returns every clone made, deleted ones included.
func (s *Server) Clones() []Clone {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.clones)
}

// addVoice is POST /v1/voices/add: a multipart form with name and files[].
func (s *Server) addVoice(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) || s.injected(w) {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		unprocessable(w, []any{"body"}, "Expected a multipart form", "model_attributes_type")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<20)
	if err := r.ParseMultipartForm(64 << 20); err != nil { //nolint:gosec // bounded by the MaxBytesReader above
		unprocessable(w, []any{"body"}, "Invalid multipart form: "+err.Error(), "value_error")
		return
	}
	name := strings.TrimSpace(r.FormValue("name"))
	files := r.MultipartForm.File["files"]
	switch {
	case name == "":
		unprocessable(w, []any{"body", "name"}, "Field required", "missing")
		return
	case len(files) == 0:
		unprocessable(w, []any{"body", "files"}, "Field required", "missing")
		return
	}
	id := strings.ToUpper(randomHex(10))[:20]
	s.mu.Lock()
	s.clones = append(s.clones, Clone{VoiceID: id, Name: name, Samples: len(files)})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"voice_id": id, "requires_verification": false})
}

// deleteVoice is DELETE /v1/voices/{voice_id}.
func (s *Server) deleteVoice(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	id := r.PathValue("voice_id")
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.clones {
		if s.clones[i].VoiceID == id && !s.clones[i].Deleted {
			s.clones[i].Deleted = true
			writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
			return
		}
	}
	writeDetail(w, http.StatusNotFound, "voice_not_found", "A voice with the voice_id "+id+" was not found.")
}
