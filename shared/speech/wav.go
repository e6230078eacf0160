package speech

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// WAV describes a RIFF/WAVE file's audio: its format and where its samples are.
type WAV struct {
	Format        uint16 // 1 = integer PCM (WAVE_FORMAT_EXTENSIBLE with a PCM subformat is reported as 1)
	Channels      int
	SampleRate    int
	BitsPerSample int
	DataOffset    int64 // where the samples start
	DataSize      int64 // bytes of samples
}

// ErrNotWAV is wrapped by ReadWAV's errors for input that is not a
// well-formed RIFF/WAVE file.
var ErrNotWAV = errors.New("not a WAV file")

// Duration returns the length of the audio in seconds.
func (w WAV) Duration() float64 {
	frame := int64(w.Channels) * int64(w.BitsPerSample/8)
	if frame <= 0 || w.SampleRate <= 0 {
		return 0
	}
	return float64(w.DataSize/frame) / float64(w.SampleRate)
}

// IsPCM16Mono reports whether the audio is 16-bit integer PCM, one channel,
// at rate samples per second.
func (w WAV) IsPCM16Mono(rate int) bool {
	return w.Format == 1 && w.Channels == 1 && w.BitsPerSample == 16 && w.SampleRate == rate
}

// ReadWAV reads a WAV header from r, skipping chunks other than "fmt " and
// "data" (FFmpeg writes a LIST chunk, for one), and stops at the first sample.
// size is the length of the whole file, used to bound a data chunk whose
// declared size is unknown or too large (streamed WAVs declare 0 or
// 0xFFFFFFFF); pass -1 when it is not known. Errors wrap ErrNotWAV.
func ReadWAV(r io.Reader, size int64) (WAV, error) {
	var w WAV
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return w, fmt.Errorf("%w: %w", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return w, fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	off := int64(12)
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return w, fmt.Errorf("%w: no data chunk: %w", ErrNotWAV, err)
		}
		off += 8
		id, n := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if n < 16 || n > 1024 {
				return w, fmt.Errorf("%w: fmt chunk of %d bytes", ErrNotWAV, n)
			}
			b := make([]byte, n+n%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return w, fmt.Errorf("%w: fmt chunk: %w", ErrNotWAV, err)
			}
			off += int64(len(b))
			w.Format = binary.LittleEndian.Uint16(b[0:2])
			w.Channels = int(binary.LittleEndian.Uint16(b[2:4]))
			w.SampleRate = int(binary.LittleEndian.Uint32(b[4:8]))
			w.BitsPerSample = int(binary.LittleEndian.Uint16(b[14:16]))
			// WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the subformat GUID.
			if w.Format == 0xFFFE && n >= 26 {
				w.Format = binary.LittleEndian.Uint16(b[24:26])
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return w, fmt.Errorf("%w: data chunk before fmt chunk", ErrNotWAV)
			}
			w.DataOffset = off
			w.DataSize = n
			if size >= 0 && (n == 0 || n == math.MaxUint32 || off+n > size) {
				w.DataSize = max(size-off, 0)
			}
			return w, nil
		default:
			if _, err := io.CopyN(io.Discard, r, n+n%2); err != nil {
				return w, fmt.Errorf("%w: %q chunk: %w", ErrNotWAV, id, err)
			}
			off += n + n%2
		}
	}
}
