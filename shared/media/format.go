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
	demuxer string // the FFmpeg demuxer forced with -f, and the only one -format_whitelist lets open
	name    string // for people: "MP4 video"
	video   bool   // a video type (else audio)
}

// formats maps the content types we accept to the demuxer that reads them.
// It is the one list of what an upload may be: Probe, Transcode, Mix and
// every other read of an upload take the demuxer from here, through
// InputArgs. Only demuxers that never open other files or URLs are here (no
// hls, dash, concat, image2 patterns, ...): forcing one of them is what
// keeps a playlist or a concat script from being read as one.
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

// codec is one codec an upload's streams may use.
type codec struct {
	decoders []string // FFmpeg's decoders for it: what -codec_whitelist names
	// mp4 says the stream can be copied into the MP4 files we serve and
	// still play in browsers; Mix takes other video from the rendition.
	mp4 bool
}

// codecs are the codecs (by ffprobe's codec_name) an upload may contain.
// Their decoders are the only ones FFmpeg may open on an upload
// (-codec_whitelist): a file in an accepted container whose stream needs any
// other decoder is refused, and a bug in a decoder we never meant to run
// cannot be reached through an upload. Cover art (mjpeg, png) and the
// subtitle tracks phones and editors write are here because FFmpeg opens a
// decoder for every stream it probes.
var codecs = map[string]codec{
	"h264":       {[]string{"h264"}, true},
	"hevc":       {[]string{"hevc"}, true},
	"av1":        {[]string{"libdav1d", "libaom-av1", "av1"}, true},
	"vp8":        {[]string{"vp8", "libvpx"}, false},
	"vp9":        {[]string{"vp9", "libvpx-vp9"}, false},
	"mpeg4":      {[]string{"mpeg4"}, false},
	"msmpeg4v3":  {[]string{"msmpeg4"}, false}, // DivX 3, in old AVIs
	"msmpeg4v2":  {[]string{"msmpeg4v2"}, false},
	"h263":       {[]string{"h263"}, false},
	"mpeg1video": {[]string{"mpeg1video"}, false},
	"mpeg2video": {[]string{"mpeg2video"}, false},
	"theora":     {[]string{"theora"}, false},
	"prores":     {[]string{"prores"}, false},
	"dnxhd":      {[]string{"dnxhd"}, false},
	"mjpeg":      {[]string{"mjpeg"}, false},
	"png":        {[]string{"png"}, false},
	"aac":        {[]string{"aac", "aac_fixed"}, true},
	"mp3":        {[]string{"mp3float", "mp3"}, false},
	"mp2":        {[]string{"mp2float", "mp2"}, false},
	"opus":       {[]string{"opus", "libopus"}, false},
	"vorbis":     {[]string{"vorbis", "libvorbis"}, false},
	"flac":       {[]string{"flac"}, false},
	"alac":       {[]string{"alac"}, false},
	"ac3":        {[]string{"ac3", "ac3_fixed"}, false},
	"eac3":       {[]string{"eac3"}, false},
	"dts":        {[]string{"dca"}, false},
	"amr_nb":     {[]string{"amrnb", "libopencore_amrnb"}, false}, // phones' 3GP
	"amr_wb":     {[]string{"amrwb", "libopencore_amrwb"}, false},
	"pcm_s16le":  {[]string{"pcm_s16le"}, false},
	"pcm_s16be":  {[]string{"pcm_s16be"}, false},
	"pcm_s24le":  {[]string{"pcm_s24le"}, false},
	"pcm_s24be":  {[]string{"pcm_s24be"}, false}, // cameras' MOV
	"pcm_s32be":  {[]string{"pcm_s32be"}, false},
	"pcm_f32be":  {[]string{"pcm_f32be"}, false},
	"pcm_alaw":   {[]string{"pcm_alaw"}, false},
	"pcm_mulaw":  {[]string{"pcm_mulaw"}, false},
	"pcm_s32le":  {[]string{"pcm_s32le"}, false},
	"pcm_f32le":  {[]string{"pcm_f32le"}, false},
	"pcm_u8":     {[]string{"pcm_u8"}, false},
	"mov_text":   {[]string{"mov_text"}, false},
	"subrip":     {[]string{"subrip", "srt"}, false},
	"ass":        {[]string{"ass", "ssa"}, false},
	"webvtt":     {[]string{"webvtt"}, false},
}

// codecWhitelist is the value of -codec_whitelist: every decoder of codecs.
var codecWhitelist = func() string {
	var names []string
	for _, c := range codecs {
		names = append(names, c.decoders...)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}()

// InputArgs returns the FFmpeg (or ffprobe) arguments that read an upload
// declared as contentType at path: the demuxer forced from the content type
// (-f), that demuxer as the only format FFmpeg may open (-format_whitelist),
// only the decoders of the codecs we accept (-codec_whitelist) and the file
// protocol (Runner.Run adds -protocol_whitelist file before every -i). Every
// read of an upload goes through it, never through a guess from the file's
// name or bytes. An unknown content type is a *RejectError.
func InputArgs(path, contentType string) ([]string, error) {
	f, err := lookupFormat(contentType)
	if err != nil {
		return nil, err
	}
	return f.input(path), nil
}

// input is InputArgs for a known format.
func (f format) input(path string) []string {
	return []string{"-format_whitelist", f.demuxer, "-codec_whitelist", codecWhitelist, "-f", f.demuxer, "-i", fileURL(path)}
}

// CopiesIntoMP4 reports whether a video stream of the codec (ffprobe's
// codec_name) can be copied into the MP4 files we serve and still play in
// a browser; other codecs are re-encoded.
func CopiesIntoMP4(codecName string) bool { return codecs[codecName].mp4 }

// checkCodecs refuses streams whose codec is not in codecs, naming it. FFmpeg
// refuses them too (-codec_whitelist); this gives the uploader the reason.
func checkCodecs(streams []probeStream) error {
	for _, s := range streams {
		if s.CodecType != "video" && s.CodecType != "audio" && s.CodecType != "subtitle" {
			continue // data streams (timecodes, GPS tracks) are never decoded
		}
		if _, ok := codecs[s.CodecName]; !ok {
			name := s.CodecName
			if name == "" {
				name = "an unknown codec"
			}
			return &RejectError{Reason: fmt.Sprintf("the file's %s stream uses %s, which is not supported; "+
				"use H.264, HEVC, AV1, VP8, VP9, MPEG-4 or Theora video and AAC, MP3, Opus, Vorbis, FLAC or PCM audio",
				s.CodecType, truncate(name, 40))}
		}
	}
	return nil
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
