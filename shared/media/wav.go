package media

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Chunk is one piece of a split WAV.
type Chunk struct {
	Path     string
	Start    time.Duration // where the piece starts in the original
	Duration time.Duration
}

// wavInfo is what SplitWAV needs from a WAV header.
type wavInfo struct {
	fmtChunk   []byte // the "fmt " chunk's body, copied into every piece
	sampleRate int
	blockAlign int   // bytes per sample frame (all channels)
	dataOff    int64 // where the samples start
	dataLen    int64
}

// SplitWAV cuts a PCM WAV (such as Transcode's speech WAV) into pieces of
// at most maxBytes each, header included, written to outDir as
// chunk-000.wav, chunk-001.wav, ... Cuts fall on whole sample frames, on
// 10 ms boundaries when the piece size allows, so every Start is exact and
// the pieces' durations add up to the original's. A file that already fits
// gives one piece, a copy. It is pure Go: the WAV must be one this system
// made (PCM or float, any rate or channel count, not RF64).
func SplitWAV(ctx context.Context, in, outDir string, maxBytes int64) ([]Chunk, error) {
	f, err := os.Open(in)
	if err != nil {
		return nil, fmt.Errorf("split wav: %w", err)
	}
	defer f.Close()
	w, err := readWAVHeader(f)
	if err != nil {
		return nil, fmt.Errorf("split wav %s: %w", in, err)
	}
	header := int64(12 + 8 + len(w.fmtChunk) + 8)
	if w.blockAlign%2 == 1 {
		header++ // room for the pad byte after an odd-sized data chunk
	}
	frames := (maxBytes - header) / int64(w.blockAlign)
	if step := int64(w.sampleRate / 100); frames > step && step > 0 {
		frames -= frames % step
	}
	if frames < 1 {
		return nil, fmt.Errorf("split wav: %d bytes cannot hold a %d-byte header and one sample", maxBytes, header)
	}
	total := w.dataLen / int64(w.blockAlign)
	if total == 0 {
		return nil, fmt.Errorf("split wav %s: no samples", in)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("split wav: %w", err)
	}

	var chunks []Chunk
	for first := int64(0); first < total; first += frames {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("split wav: %w", err)
		}
		n := min(frames, total-first)
		path := filepath.Join(outDir, fmt.Sprintf("chunk-%03d.wav", len(chunks)))
		src := io.NewSectionReader(f, w.dataOff+first*int64(w.blockAlign), n*int64(w.blockAlign))
		if err := writeWAV(path, w.fmtChunk, src, n*int64(w.blockAlign)); err != nil {
			return nil, fmt.Errorf("split wav: %w", err)
		}
		chunks = append(chunks, Chunk{Path: path, Start: w.frameTime(first), Duration: w.frameTime(first+n) - w.frameTime(first)})
	}
	return chunks, nil
}

func (w wavInfo) frameTime(frame int64) time.Duration {
	return time.Duration(frame * int64(time.Second) / int64(w.sampleRate))
}

func readWAVHeader(f *os.File) (wavInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return wavInfo{}, err
	}
	var riff [12]byte
	if _, err := io.ReadFull(f, riff[:]); err != nil {
		return wavInfo{}, errors.New("not a WAV file")
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return wavInfo{}, errors.New("not a RIFF WAVE file")
	}
	var w wavInfo
	off := int64(12)
	for {
		var hdr [8]byte
		if _, err := f.ReadAt(hdr[:], off); err != nil {
			return wavInfo{}, errors.New("no data chunk")
		}
		id, size := string(hdr[0:4]), int64(binary.LittleEndian.Uint32(hdr[4:8]))
		off += 8
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return wavInfo{}, fmt.Errorf("bad fmt chunk size %d", size)
			}
			w.fmtChunk = make([]byte, size)
			if _, err := f.ReadAt(w.fmtChunk, off); err != nil {
				return wavInfo{}, fmt.Errorf("read fmt chunk: %w", err)
			}
			format := binary.LittleEndian.Uint16(w.fmtChunk[0:2])
			if format != 1 && format != 3 && format != 0xfffe {
				return wavInfo{}, fmt.Errorf("not PCM (format tag %#x)", format)
			}
			w.sampleRate = int(binary.LittleEndian.Uint32(w.fmtChunk[4:8]))
			w.blockAlign = int(binary.LittleEndian.Uint16(w.fmtChunk[12:14]))
			if w.sampleRate <= 0 || w.blockAlign <= 0 {
				return wavInfo{}, errors.New("bad fmt chunk")
			}
		case "data":
			if w.fmtChunk == nil {
				return wavInfo{}, errors.New("data chunk before fmt chunk")
			}
			w.dataOff = off
			// A writer that could not seek back leaves the size unset or
			// too large: the samples run to the end of the file.
			w.dataLen = min(size, fi.Size()-off)
			return w, nil
		}
		off += size + size%2 // chunks are padded to even sizes
	}
}

func writeWAV(path string, fmtChunk []byte, samples io.Reader, n int64) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	b := bufio.NewWriterSize(f, 256<<10)
	le := binary.LittleEndian
	hdr := make([]byte, 0, 12+8+len(fmtChunk)+8)
	hdr = append(hdr, "RIFF"...)
	if n < 0 || n > 1<<31 {
		return fmt.Errorf("write %s: %d bytes of samples do not fit a WAV file", path, n)
	}
	hdr = le.AppendUint32(hdr, uint32(4+8+len(fmtChunk)+8+int(n)+int(n%2))) //nolint:gosec // bounded above
	hdr = append(hdr, "WAVEfmt "...)
	hdr = le.AppendUint32(hdr, uint32(len(fmtChunk))) //nolint:gosec // a fmt chunk is a few dozen bytes
	hdr = append(hdr, fmtChunk...)
	hdr = append(hdr, "data"...)
	hdr = le.AppendUint32(hdr, uint32(n)) //nolint:gosec // bounded above
	if _, err := b.Write(hdr); err != nil {
		return err
	}
	if _, err := io.CopyN(b, samples, n); err != nil {
		return err
	}
	if n%2 == 1 {
		if err := b.WriteByte(0); err != nil {
			return err
		}
	}
	return b.Flush()
}

// Span is a time range of a WAV file, in seconds.
type Span struct{ Start, End float64 }

// ExtractWAV writes the samples of in's spans, one after the other, to out
// (a WAV of the same format) and returns the seconds written. Spans are
// clamped to the audio; empty ones are skipped. The voice-clone samples of a
// speaker are cut this way from the job's speech WAV.
func ExtractWAV(in, out string, spans []Span) (float64, error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, fmt.Errorf("extract wav: %w", err)
	}
	defer f.Close()
	w, err := readWAVHeader(f)
	if err != nil {
		return 0, fmt.Errorf("extract wav %s: %w", in, err)
	}
	total := w.dataLen / int64(w.blockAlign)
	frame := func(sec float64) int64 { return min(max(int64(sec*float64(w.sampleRate)), 0), total) }
	var readers []io.Reader
	var n int64
	for _, s := range spans {
		a, b := frame(s.Start), frame(s.End)
		if b <= a {
			continue
		}
		readers = append(readers, io.NewSectionReader(f, w.dataOff+a*int64(w.blockAlign), (b-a)*int64(w.blockAlign)))
		n += (b - a) * int64(w.blockAlign)
	}
	if n == 0 {
		return 0, fmt.Errorf("extract wav %s: the spans hold no samples", in)
	}
	if err := writeWAV(out, w.fmtChunk, io.MultiReader(readers...), n); err != nil {
		return 0, fmt.Errorf("extract wav: %w", err)
	}
	return float64(n/int64(w.blockAlign)) / float64(w.sampleRate), nil
}
