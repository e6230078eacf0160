// Package media runs ffprobe and FFmpeg, on uploads nobody vouches for.
//
// # Running FFmpeg
//
// A Runner holds the paths of the two binaries (NewRunner finds them:
// FFMPEG_PATH/FFPROBE_PATH, the FFmpeg layer's /opt/bin, then PATH). Every
// ffmpeg run goes through Runner.Run, which adds the flags no run should be
// without: -nostdin, quiet logs (-loglevel error), machine-readable
// progress on stdout (-progress pipe:1) and -protocol_whitelist file in
// front of every -i, so no input can reach the network or stitch files
// together through the concat: or subfile: protocols. Each run has a hard
// timeout; the tool runs in its own process group and the whole group is
// killed on timeout, on a true from RunOptions.Cancel (polled every second:
// the job's cancel flag) or when the context ends. A failure is an
// *ExecError whose text, with the last lines of stderr, can go straight into
// a job's failure reason.
//
// # Untrusted media
//
// Probe is the gate every upload passes before anything else reads it:
//
//   - The demuxer is forced (-f) from the declared content type and never
//     guessed from the bytes or the name. One table (format.go) maps the
//     accepted content types to their demuxers and lists the codecs an
//     upload may use; InputArgs turns it into the arguments of every read
//     of an upload: -f, -format_whitelist naming that demuxer alone and
//     -codec_whitelist naming only the decoders of the listed codecs, so a
//     valid file in another codec is refused by FFmpeg itself. The protocol whitelist alone would not be
//     enough: an HLS playlist or an ffconcat script that names local files
//     only uses the file protocol, and FFmpeg's format detection would
//     happily follow it. Read as MP4, such a file is just a broken MP4.
//     Only demuxers that never open another file are mapped.
//   - The first bytes must look like the declared container (a cheap check
//     that gives "the file is not a valid MP4 video" for text and the like).
//   - ffprobe reads the headers (10 s timeout, explicit probe limits, no
//     metadata tags asked for), then Limits are applied: duration, picture
//     size and pixel count (coded size too), stream count.
//   - One second at the start and one at the end are decoded, with the
//     decoders capped at the pixel limit: a file whose header is sound but
//     whose data is missing (truncated) or garbage is refused now rather
//     than failing the transcode later.
//
// What Probe refuses comes back as a *RejectError with a Reason for the
// uploader; anything else is the system's failure. Transcode, ExtractWAV
// and the mix package read uploads the same way, through InputArgs
// (forced demuxer, whitelists, file protocol), with a pixel cap, outputs
// cut a little past the probed duration and metadata such as GPS positions
// not copied.
//
// # Renditions
//
// Transcode makes what the pipeline serves and transcribes: an MP4 (H.264
// + AAC, at most 720p, moov first so it plays while downloading), a poster
// JPEG and a 16 kHz mono WAV, or for audio the WAV and an M4A. SplitWAV
// cuts a WAV into pieces under an upload limit (OpenAI's 25 MB) at exact
// sample times.
package media
