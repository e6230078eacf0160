package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"slices"
	"strings"
)

// format is how one declared content type is read.
type format struct {
	demuxer string // the FFmpeg demuxer forced with -f
	name    string // for people: "MP4 video"
	video   bool   // a video type (else audio)
}

// formats maps the content types we accept to the demuxer that reads them.
// Only demuxers that never open other files or URLs are here (no hls, dash,
// concat, image2 patterns, ...): forcing one of them is what keeps a playlist
// or a concat script from being read as one.
var formats = map[string]format{
	"video/mp4":        {"mov", "MP4 video", true},
	"video/quicktime":  {"mov", "QuickTime video", true},
	"video/x-m4v":      {"mov", "M4V video", true},
	"video/3gpp":       {"mov", "3GP video", true},
	"video/webm":       {"matroska", "WebM video", true},
	"video/x-matroska": {"matroska", "Matroska video", true},
	"video/x-msvideo":  {"avi", "AVI video", true},
	"video/avi":        {"avi", "AVI video", true},
	"video/mpeg":       {"mpeg", "MPEG video", true},
	"video/ogg":        {"ogg", "Ogg video", true},
	"audio/mpeg":       {"mp3", "MP3 audio file", false},
	"audio/mp3":        {"mp3", "MP3 audio file", false},
	"audio/wav":        {"wav", "WAV audio file", false},
	"audio/x-wav":      {"wav", "WAV audio file", false},
	"audio/wave":       {"wav", "WAV audio file", false},
	"audio/vnd.wave":   {"wav", "WAV audio file", false},
	"audio/mp4":        {"mov", "M4A audio file", false},
	"audio/m4a":        {"mov", "M4A audio file", false},
	"audio/x-m4a":      {"mov", "M4A audio file", false},
	"audio/aac":        {"aac", "AAC audio file", false}, // raw ADTS; AAC in MP4 is audio/mp4
	"audio/x-aac":      {"aac", "AAC audio file", false},
	"audio/webm":       {"matroska", "WebM audio file", false}, // WebM is a subset of Matroska
	"audio/x-matroska": {"matroska", "Matroska audio file", false},
	"audio/ogg":        {"ogg", "Ogg audio file", false},
	"audio/opus":       {"ogg", "Opus audio file", false},
	"audio/flac":       {"flac", "FLAC audio file", false},
	"audio/x-flac":     {"flac", "FLAC audio file", false},
}

// lookupFormat returns the format of a declared content type; parameters
// (";codecs=...") and case are ignored. An unknown type is a *RejectError.
func lookupFormat(contentType string) (format, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		// Browsers send parameters mime rejects: video/webm;codecs=vp8,opus.
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	if f, ok := formats[mt]; ok {
		return f, nil
	}
	shown := mt
	if shown == "" {
		shown = "(none)"
	}
	return format{}, &RejectError{Reason: fmt.Sprintf("the file type %q is not supported; upload a video (%s) or an audio file (%s)",
		truncate(shown, 80), "MP4, MOV, WebM, MKV, AVI, MPEG", "MP3, WAV, M4A, AAC, OGG, Opus, FLAC")}
}

// Demuxer returns the FFmpeg demuxer to force (-f) for a declared content
// type, so callers that read an upload themselves read it the way Probe
// did. An unknown type is a *RejectError.
func Demuxer(contentType string) (string, error) {
	f, err := lookupFormat(contentType)
	return f.demuxer, err
}

// ContentTypes returns the content types Probe accepts, sorted.
func ContentTypes() []string {
	out := make([]string, 0, len(formats))
	for ct := range formats {
		out = append(out, ct)
	}
	slices.Sort(out)
	return out
}

// movTopBoxes are the box types an ISO BMFF / QuickTime file starts with.
var movTopBoxes = []string{"ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "styp", "sidx", "moof", "junk"}

// sniff reports whether the file starts the way the demuxer's files start.
// It is a cheap first check that gives a clear answer ("not a valid MP4
// video") for text and other files under a media name. Demuxers without a
// fixed signature (mp3, aac, mpeg) always pass; ffprobe judges those.
func sniff(path, demuxer string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 16)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, err
	}
	head = head[:n]
	at := func(off int, s string) bool {
		return len(head) >= off+len(s) && string(head[off:off+len(s)]) == s
	}
	switch demuxer {
	case "mov":
		return len(head) >= 8 && slices.Contains(movTopBoxes, string(head[4:8])), nil
	case "matroska":
		return bytes.HasPrefix(head, []byte{0x1a, 0x45, 0xdf, 0xa3}), nil
	case "wav":
		return (at(0, "RIFF") || at(0, "RF64") || at(0, "BW64")) && at(8, "WAVE"), nil
	case "avi":
		return at(0, "RIFF") && at(8, "AVI"), nil
	case "ogg":
		return at(0, "OggS"), nil
	case "flac":
		return at(0, "fLaC") || at(0, "ID3"), nil
	}
	return true, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
