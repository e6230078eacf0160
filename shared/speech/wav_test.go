package speech_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/speech"
)

// wavBytes builds a WAV file: the fmt chunk, any extra chunks, then data.
func wavBytes(format, channels uint16, rate uint32, bits uint16, dataSize uint32, samples []byte, extra ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(0)) // unchecked
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), format, channels, rate, rate * uint32(channels*bits/8), channels * bits / 8, bits} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	for _, e := range extra {
		b.Write(e)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, dataSize)
	b.Write(samples)
	return b.Bytes()
}

func TestReadWAV(t *testing.T) {
	t.Parallel()
	samples := make([]byte, 32000)                         // 1 s at 16 kHz mono 16-bit
	list := append([]byte("LIST\x05\x00\x00\x00INFOx"), 0) // odd size, padded

	for name, tt := range map[string]struct {
		file []byte
		want speech.WAV
	}{
		"plain": {wavBytes(1, 1, 16000, 16, 32000, samples),
			speech.WAV{Format: 1, Channels: 1, SampleRate: 16000, BitsPerSample: 16, DataOffset: 44, DataSize: 32000}},
		"with a LIST chunk (FFmpeg)": {wavBytes(1, 1, 16000, 16, 32000, samples, list),
			speech.WAV{Format: 1, Channels: 1, SampleRate: 16000, BitsPerSample: 16, DataOffset: 58, DataSize: 32000}},
		"streamed, size unknown (espeak-ng --stdout)": {wavBytes(1, 1, 16000, 16, 0x7ffff000, samples),
			speech.WAV{Format: 1, Channels: 1, SampleRate: 16000, BitsPerSample: 16, DataOffset: 44, DataSize: 32000}},
		"no samples": {wavBytes(1, 1, 16000, 16, 0, nil),
			speech.WAV{Format: 1, Channels: 1, SampleRate: 16000, BitsPerSample: 16, DataOffset: 44, DataSize: 0}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := speech.ReadWAV(bytes.NewReader(tt.file), int64(len(tt.file)))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.InDelta(t, float64(tt.want.DataSize)/32000, got.Duration(), 1e-9)
			require.True(t, got.IsPCM16Mono(16000))
			require.False(t, got.IsPCM16Mono(22050))
		})
	}

	for name, file := range map[string][]byte{
		"empty":         nil,
		"not RIFF":      []byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00 mp3 frames"),
		"no data chunk": wavBytes(1, 1, 16000, 16, 0, nil)[:36],
		"huge fmt":      append([]byte("RIFF\x00\x00\x00\x00WAVEfmt "), 0xff, 0xff, 0xff, 0x7f),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := speech.ReadWAV(bytes.NewReader(file), int64(len(file)))
			require.ErrorIs(t, err, speech.ErrNotWAV)
		})
	}
}
