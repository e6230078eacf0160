package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// watcher records which files of a directory are opened or read, by any
// process, through inotify: the proof that FFmpeg read nothing but its input.
type watcher struct{ fd int }

func watch(t *testing.T, dir string) *watcher {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	require.NoError(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	_, err = syscall.InotifyAddWatch(fd, dir, syscall.IN_OPEN|syscall.IN_ACCESS)
	require.NoError(t, err)
	return &watcher{fd: fd}
}

// touched returns the names opened or read since the last call.
func (w *watcher) touched(t *testing.T) []string {
	t.Helper()
	var names []string
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(w.fd, buf)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		require.NoError(t, err)
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
			if s := string(bytes.TrimRight(name, "\x00")); s != "" && !slices.Contains(names, s) {
				names = append(names, s)
			}
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
	slices.Sort(names)
	return names
}

// hostile is a directory with an input and a secret next to it.
type hostile struct {
	bundle
	secret string
	w      *watcher
}

func setupHostile(t *testing.T) hostile {
	t.Helper()
	b := setup(t)
	// The secret is real media (MPEG-TS, an extension HLS accepts), so a
	// demuxer that follows a reference to it would succeed in reading it.
	secret := b.gen(t, "secret.ts", "-f", "lavfi", "-i", "sine", "-t", "0.5", "-f", "mpegts")
	return hostile{bundle: b, secret: secret, w: watch(t, b.dir)}
}

// requireOnly fails if anything but the input was opened or read.
func (h hostile) requireOnly(t *testing.T, in string) {
	t.Helper()
	for _, name := range h.w.touched(t) {
		require.Equal(t, filepath.Base(in), name, "a file other than the input was opened")
	}
}

func (h hostile) requireRejected(t *testing.T, in, contentType, reason string) {
	t.Helper()
	h.w.touched(t) // forget the writing of the sample
	_, err := h.r.Probe(h.ctx, in, contentType, Limits{})
	var re *RejectError
	require.ErrorAs(t, err, &re)
	t.Logf("%s as %s: %s", filepath.Base(in), contentType, re.Reason)
	if reason != "" {
		require.Equal(t, reason, re.Reason)
	}
	h.requireOnly(t, in)
}

func (h hostile) playlist() []byte {
	return fmt.Appendf(nil, "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1,\nsecret.ts\n#EXTINF:1,\nfile://%s\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n", h.secret)
}

func (h hostile) concatList() []byte {
	return []byte("ffconcat version 1.0\nfile secret.ts\n")
}

func TestProbeRejectsPlaylists(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]func(hostile) []byte{"hls": hostile.playlist, "ffconcat": hostile.concatList} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := setupHostile(t)
			in := h.write(t, "upload.mp4", content(h))

			h.requireRejected(t, in, "video/mp4", "the file is not a valid MP4 video")

			// Each layer holds on its own. ffprobe with the forced demuxer
			// (what runs if the signature check were gone):
			_, err := h.r.ffprobe(h.ctx, formats["video/mp4"].input(in), probeTimeout, "-show_entries", probeEntries)
			var ee *ExecError
			require.ErrorAs(t, err, &ee)
			require.Contains(t, ee.StderrTail, "moov atom not found")
			h.requireOnly(t, in)
			// Run, forced demuxer:
			err = h.r.Run(h.ctx, []string{"-f", "mov", "-i", fileURL(in), "-f", "null", "-"}, RunOptions{})
			require.ErrorAs(t, err, &ee)
			h.requireOnly(t, in)

			// The control: the whitelist alone does NOT stop a local playlist,
			// since its entries are files too. Without -f, ffprobe guesses
			// the format and reads the secret, which shows the watcher works
			// and why the demuxer must be forced.
			// (Debian's FFmpeg refuses the whole playlist for its
			// /etc/passwd line, so the control leaves that line out.)
			control := h.write(t, "control.mp4", bytes.ReplaceAll(content(h), []byte("file:///etc/passwd"), []byte("secret.ts")))
			out, err := exec.Command(h.r.FFprobe, "-v", "error", "-protocol_whitelist", "file", "-show_format", fileURL(control)).CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Contains(t, h.w.touched(t), "secret.ts")
		})
	}
}

func TestProbeRejectsHostileMedia(t *testing.T) {
	t.Parallel()

	t.Run("text named .mp4", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.write(t, "upload.mp4", []byte("hello, this is not a video\n"))
		h.requireRejected(t, in, "video/mp4", "the file is not a valid MP4 video")
	})

	t.Run("text named .mp3", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.write(t, "upload.mp3", bytes.Repeat([]byte("not audio at all\n"), 100))
		h.requireRejected(t, in, "audio/mpeg", "")
	})

	t.Run("empty", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.write(t, "upload.mp4", nil)
		h.requireRejected(t, in, "video/mp4", "the file is empty")
	})

	t.Run("unmapped content type", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.mp4(t, "upload.mp4", "160x120", time.Second)
		for _, ct := range []string{"application/pdf", "application/x-mpegurl", "text/plain", ""} {
			h.requireRejected(t, in, ct, "")
		}
		_, err := h.r.Probe(h.ctx, in, "application/pdf", Limits{})
		require.ErrorContains(t, err, `the file type "application/pdf" is not supported`)
	})

	t.Run("truncated mp4, index at the end", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.mp4(t, "upload.mp4", "160x120", 2*time.Second)
		cutInHalf(t, in)
		h.requireRejected(t, in, "video/mp4", "the file is truncated or corrupt (ffprobe: moov atom not found)")
	})

	t.Run("truncated mp4, index first", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.mp4(t, "upload.mp4", "160x120", 4*time.Second, "-movflags", "+faststart")
		cutInHalf(t, in)
		// ffprobe is happy (the index is whole); decoding the end is not.
		_, err := h.r.ffprobe(h.ctx, formats["video/mp4"].input(in), probeTimeout, "-show_entries", probeEntries)
		require.NoError(t, err)
		h.requireRejected(t, in, "video/mp4", "")
		_, err = h.r.Probe(h.ctx, in, "video/mp4", Limits{})
		require.ErrorContains(t, err, "the file is truncated or corrupt (ffmpeg: ")
	})

	t.Run("garbage after a good header", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.mp4(t, "upload.mp4", "160x120", 2*time.Second, "-movflags", "+faststart")
		data, err := os.ReadFile(in)
		require.NoError(t, err)
		mdat := bytes.Index(data, []byte("mdat"))
		require.Positive(t, mdat)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := mdat + 64; i < len(data); i++ {
			data[i] = byte(rng.Uint32())
		}
		require.NoError(t, os.WriteFile(in, data, 0o644))
		h.requireRejected(t, in, "video/mp4", "")
		_, err = h.r.Probe(h.ctx, in, "video/mp4", Limits{})
		require.ErrorContains(t, err, "corrupt (ffmpeg: ")
	})

	t.Run("16000x16000 picture", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		// Encoding a real 16000x16000 frame takes ~8 s and 400 MB; a 16x16
		// MJPEG whose JPEG header and MP4 sample entry both say 16000x16000
		// is what a decoder sees the same way.
		in := h.gen(t, "upload.mp4", "-f", "lavfi", "-i", "color=c=black:s=16x16", "-frames:v", "1", "-c:v", "mjpeg")
		patchPictureSize(t, in, 16000, 16000)
		h.requireRejected(t, in, "video/mp4", "the video is 16000x16000; the limit is 4096x4096")
	})

	t.Run("too many pixels", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.gen(t, "upload.mp4", "-f", "lavfi", "-i", "color=c=black:s=16x16", "-frames:v", "1", "-c:v", "mjpeg")
		patchPictureSize(t, in, 4096, 4096)
		h.requireRejected(t, in, "video/mp4", "the video is 4096x4096 (16.8 megapixels); the limit is 9.4 megapixels")
	})

	t.Run("10 hours of silence", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		// FLAC codes silence as one constant per 65535-sample block: 10 h
		// at 1 kHz is 16 KB and takes ~0.4 s to make.
		in := h.gen(t, "upload.flac", "-f", "lavfi", "-i", "anullsrc=r=1000:cl=mono", "-t", "36000",
			"-c:a", "flac", "-frame_size", "65535")
		h.requireRejected(t, in, "audio/flac", "the audio is 10h0m0s long; the limit is 4h0m0s")
	})

	t.Run("too short", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.audio(t, "upload.wav", 50*time.Millisecond)
		h.requireRejected(t, in, "audio/wav", "the audio is 50ms long; the minimum is 100ms")
	})

	t.Run("too many streams", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		args := []string{"-f", "lavfi", "-i", "sine", "-t", "0.5"}
		for range 9 {
			args = append(args, "-map", "0:a")
		}
		in := h.gen(t, "upload.mkv", append(args, "-c:a", "flac")...)
		h.requireRejected(t, in, "audio/x-matroska", "the file has 9 streams; the limit is 8")
	})

	t.Run("wav declared as mp4", func(t *testing.T) {
		t.Parallel()
		h := setupHostile(t)
		in := h.audio(t, "upload.mp4", time.Second, "-f", "wav")
		h.requireRejected(t, in, "video/mp4", "the file is not a valid MP4 video")
	})
}

func cutInHalf(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, fi.Size()/2))
}

// patchPictureSize rewrites the size of a one-frame MJPEG MP4 in the JPEG
// frame header (SOF0), the MP4 sample entry and the track header.
func patchPictureSize(t *testing.T, path string, w, h int) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	be := binary.BigEndian

	sof := bytes.Index(data, []byte{0xff, 0xc0}) // marker, length(2), precision(1), height(2), width(2)
	require.Positive(t, sof)
	be.PutUint16(data[sof+5:], uint16(h))
	be.PutUint16(data[sof+7:], uint16(w))

	stsd := bytes.Index(data, []byte("stsd"))
	require.Positive(t, stsd)
	entry := stsd + 4 + 4 + 4                  // version/flags, entry count, then the entry's size
	dims := entry + 4 + 4 + 6 + 2 + 2 + 2 + 12 // size, type, reserved, ref index, version, revision, vendor/quality
	be.PutUint16(data[dims:], uint16(w))
	be.PutUint16(data[dims+2:], uint16(h))

	tkhd := bytes.Index(data, []byte("tkhd"))
	require.Positive(t, tkhd)
	end := tkhd - 4 + int(be.Uint32(data[tkhd-4:]))
	be.PutUint32(data[end-8:], uint32(w)<<16)
	be.PutUint32(data[end-4:], uint32(h)<<16)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}
