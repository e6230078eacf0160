package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A long video is transcoded in parts (segment fan-out): each part encodes
// the picture of its time range of the upload (TranscodePart), and
// JoinParts puts them end to end without re-encoding and adds the sound,
// encoded once over the whole length, so that AAC's priming samples never
// leave gaps at the part boundaries.
//
// Joining with the concat demuxer and -c copy needs parts that are one
// stream to a decoder: every part is made by the same encoder configuration
// (VideoArgs: codec, profile, preset, CRF, the 720p fit and yuv420p, and
// the source's frame rate, capped the same way), starts on a key frame and
// has closed GOPs, so no frame refers to another part.

// PartName is the file name of part n (1 for the first) of a video
// transcoded in parts: 0001.mp4, 0002.mp4, ...
func PartName(n int) string { return fmt.Sprintf("%04d.mp4", n) }

// TranscodePart encodes the picture of in (an upload that Probe accepted,
// read as Transcode reads it) from start for length (0: to the end) into
// out, an MP4 with one H.264 stream whose timestamps start at 0. The seek
// is accurate: FFmpeg decodes from the key frame before start and drops
// the frames before it, so the parts of a video, joined, hold each of its
// frames once. Errors are as Run's.
func (r *Runner) TranscodePart(ctx context.Context, in, contentType string, info Info, start, length time.Duration, out string, opts RunOptions) error {
	f, err := lookupFormat(contentType)
	if err != nil {
		return fmt.Errorf("transcode part: %w", err)
	}
	if info.Video == nil {
		return errors.New("transcode part: the probe found no video stream")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("transcode part: %w", err)
	}
	if err := r.Run(ctx, partArgs(in, f, info, start, length, out), opts); err != nil {
		return fmt.Errorf("transcode part at %s: %w", seconds(start), err)
	}
	if !nonEmpty(out) {
		return fmt.Errorf("transcode part at %s: ffmpeg wrote no video", seconds(start))
	}
	return nil
}

func partArgs(in string, f format, info Info, start, length time.Duration, out string) []string {
	var args []string
	if start > 0 {
		args = append(args, "-ss", seconds(start)) // before -i: a fast seek, made accurate by the re-encode
	}
	args = append(args, input(in, f, info)...)
	args = append(args, "-map", fmt.Sprintf("0:%d", info.Video.Index), "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1")
	args = append(args, VideoArgs()...)
	// A key frame where the part starts and closed GOPs: no frame of a part
	// refers to another part, so the parts join without re-encoding.
	args = append(args, "-force_key_frames", "0", "-flags", "+cgop")
	if length > 0 {
		args = append(args, "-t", seconds(length))
	} else {
		args = append(args, "-t", seconds(lengthCap(max(info.Duration-start, 0))))
	}
	return append(args, "-f", "mp4", "-y", fileURL(out))
}

// JoinParts makes the renditions of a video transcoded in parts, as
// Transcode would have made them (same names in outDir, same formats): the
// MP4 is parts (in order) joined with the concat demuxer without
// re-encoding, with the sound of in (the upload, read as Transcode reads
// it) encoded once over its whole length; the poster and the speech WAV are
// made from in as Transcode makes them. Errors are as Transcode's.
func (r *Runner) JoinParts(ctx context.Context, parts []string, in, contentType string, info Info, outDir string, opts RunOptions) (Renditions, error) {
	f, err := lookupFormat(contentType)
	if err != nil {
		return Renditions{}, fmt.Errorf("join parts: %w", err)
	}
	if info.Video == nil || len(parts) == 0 {
		return Renditions{}, errors.New("join parts: nothing to join")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Renditions{}, fmt.Errorf("join parts: %w", err)
	}
	list := filepath.Join(outDir, "parts.ffconcat")
	var b strings.Builder
	b.WriteString("ffconcat version 1.0\n")
	for _, p := range parts {
		abs, err := filepath.Abs(p)
		if err != nil {
			return Renditions{}, fmt.Errorf("join parts: %w", err)
		}
		if strings.ContainsAny(abs, "'\n\r") {
			return Renditions{}, fmt.Errorf("join parts: a part's path %q cannot be quoted", abs)
		}
		b.WriteString("file '" + fileURL(abs) + "'\n")
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o600); err != nil {
		return Renditions{}, fmt.Errorf("join parts: %w", err)
	}
	rend := Renditions{MP4: filepath.Join(outDir, MP4Name), Poster: filepath.Join(outDir, PosterName)}
	wMP4, wWAV := 0.9, 0.09
	if info.Audio == nil {
		wMP4, wWAV = 0.99, 0
	}
	legs := []leg{
		{"mp4", wMP4, joinArgs(list, in, f, info, rend.MP4), rend.MP4},
		{"poster", 0.01, posterArgs(in, f, info, posterTime(info.Duration), rend.Poster), rend.Poster},
	}
	if info.Audio != nil {
		rend.WAV = filepath.Join(outDir, WAVName)
		legs = append(legs, leg{"wav", wWAV, wavArgs(in, f, info, rend.WAV), rend.WAV})
	}
	if err := r.runLegs(ctx, legs, in, f, info, opts); err != nil {
		return Renditions{}, err
	}
	return rend, nil
}

// joinArgs read the parts through the concat demuxer (our own files, from
// a list we wrote: only the concat and MP4 demuxers and the H.264 decoder
// may open) and the sound from the upload.
func joinArgs(list, in string, f format, info Info, out string) []string {
	args := []string{"-f", "concat", "-safe", "0", "-format_whitelist", "concat,mov", "-codec_whitelist", "h264", "-i", fileURL(list)}
	args = append(args, input(in, f, info)...)
	args = append(args, "-map", "0:v:0", "-c:v", "copy")
	if info.Audio != nil {
		args = append(args, "-map", "1:"+strconv.Itoa(info.Audio.Index))
		args = append(args, audioAAC(info)...)
	}
	args = append(args, common(info)...)
	return append(args, "-movflags", "+faststart", "-f", "mp4", "-y", fileURL(out))
}
