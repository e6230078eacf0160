package elevenlabstest

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Line is one turn of the fake's known script: what a speaker says between
// two times of the audio. Scribe's answer spreads each line's words evenly
// over its time.
type Line struct {
	Speaker    string // Scribe's speaker_id: "speaker_0", "speaker_1", ...
	Text       string
	Start, End float64
}

// STTRequest is an accepted speech-to-text request.
type STTRequest struct {
	ModelID, Language, Granularity string
	Diarize                        bool
	NumSpeakers                    int
	Keyterms                       []string
	Filename                       string
	FileBytes                      int
}

// SetScript sets what Scribe "hears" in every file from now on. Without a
// script it hears one speaker say DefaultScript over the whole audio.
func (s *Server) SetScript(lines []Line) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = slices.Clone(lines)
}

// DefaultScript is what Scribe hears without a script.
const DefaultScript = "Hello and welcome. This is a short test of the redub pipeline. Thank you for watching."

// STTCalls returns how many speech-to-text requests arrived, failed ones included.
func (s *Server) STTCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sttCalls
}

// STTRequests returns the accepted speech-to-text requests.
func (s *Server) STTRequests() []STTRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sttRequests)
}

func (s *Server) speechToText(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.sttCalls++
	s.mu.Unlock()
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
	form := r.MultipartForm
	get := func(k string) string {
		if v := form.Value[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	req := STTRequest{ModelID: get("model_id"), Language: get("language_code"), Granularity: get("timestamps_granularity"), Keyterms: form.Value["keyterms"]}
	switch req.ModelID {
	case "scribe_v1", "scribe_v2":
	case "":
		unprocessable(w, []any{"body", "model_id"}, "Field required", "missing")
		return
	default:
		writeDetail(w, http.StatusBadRequest, "invalid_model", fmt.Sprintf("Model %s is not a speech-to-text model.", req.ModelID))
		return
	}
	if g := req.Granularity; g != "" && g != "word" && g != "character" && g != "none" {
		unprocessable(w, []any{"body", "timestamps_granularity"}, "Input should be 'none', 'word' or 'character'", "enum")
		return
	}
	if d := get("diarize"); d != "" {
		b, err := strconv.ParseBool(d)
		if err != nil {
			unprocessable(w, []any{"body", "diarize"}, "Input should be a valid boolean", "bool_parsing")
			return
		}
		req.Diarize = b
	}
	if n := get("num_speakers"); n != "" {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 || v > 32 {
			unprocessable(w, []any{"body", "num_speakers"}, "Input should be less than or equal to 32", "less_than_equal")
			return
		}
		req.NumSpeakers = v
	}
	if len(req.Keyterms) > 100 {
		writeDetail(w, http.StatusBadRequest, "too_many_keyterms", "At most 100 keyterms are allowed.")
		return
	}
	files := form.File["file"]
	if len(files) != 1 {
		writeDetail(w, http.StatusBadRequest, "invalid_request", "Exactly one of file or cloud_storage_url must be provided.")
		return
	}
	f, err := files[0].Open()
	if err != nil {
		writeDetail(w, http.StatusBadRequest, "invalid_file", "The file could not be read.")
		return
	}
	audio, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil || len(audio) == 0 {
		writeDetail(w, http.StatusBadRequest, "invalid_file", "The file is empty.")
		return
	}
	req.Filename, req.FileBytes = files[0].Filename, len(audio)

	s.mu.Lock()
	s.sttRequests = append(s.sttRequests, req)
	script := slices.Clone(s.script)
	s.mu.Unlock()
	if len(script) == 0 {
		script = []Line{{Speaker: "speaker_0", Text: DefaultScript, Start: 0.2, End: max(wavSeconds(audio)-0.2, 1)}}
	}
	words := []map[string]any{}
	var text []string
	for _, l := range script {
		parts := strings.Fields(l.Text)
		step := (l.End - l.Start) / float64(max(len(parts), 1))
		for i, p := range parts {
			if len(words) > 0 {
				words = append(words, map[string]any{"text": " ", "start": l.Start + float64(i)*step, "end": l.Start + float64(i)*step, "type": "spacing", "speaker_id": l.Speaker})
			}
			word := map[string]any{"text": p, "start": round3(l.Start + float64(i)*step), "end": round3(l.Start + float64(i+1)*step - step*0.1),
				"type": "word", "logprob": -0.05}
			if req.Diarize {
				word["speaker_id"] = l.Speaker
			}
			words = append(words, word)
		}
		text = append(text, l.Text)
	}
	lang := req.Language
	if lang == "" {
		lang = "eng"
	}
	w.Header().Set("request-id", randomHex(10))
	writeJSON(w, http.StatusOK, map[string]any{"language_code": lang, "language_probability": 0.98, "text": strings.Join(text, " "), "words": words})
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// wavSeconds reads the length of a PCM WAV upload (0 when it is not one).
func wavSeconds(b []byte) float64 {
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0
	}
	var byteRate uint32
	for i := 12; i+8 <= len(b); {
		id, size := string(b[i:i+4]), binary.LittleEndian.Uint32(b[i+4:i+8])
		switch id {
		case "fmt ":
			if i+20 <= len(b) {
				byteRate = binary.LittleEndian.Uint32(b[i+16 : i+20])
			}
		case "data":
			if byteRate == 0 {
				return 0
			}
			return float64(min(int(size), len(b)-i-8)) / float64(byteRate)
		}
		i += 8 + int(size) + int(size&1)
	}
	return 0
}
