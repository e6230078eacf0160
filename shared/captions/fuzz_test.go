package captions_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/redub/redub/shared/captions"
)

// The parsers read files users upload or edit. Whatever they accept must
// come out of the writer as a file the parser reads back, and one round
// trip must be stable: what SRT and WebVTT write is what they read.

func FuzzParseSRT(f *testing.F) {
	f.Add([]byte("1\n00:00:01,000 --> 00:00:02,500\nHello\n\n2\n00:00:03,000 --> 00:00:04,000\nWorld\n"))
	f.Add([]byte("\ufeff00:00:01.5 --> 00:00:02.25\r\n<i>tags</i> and {braces}\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, err := captions.ParseSRT(data)
		if err != nil {
			require.ErrorIs(t, err, captions.ErrSyntax)
			return
		}
		out := captions.SRT(segs)
		again, err := captions.ParseSRT(out)
		require.NoError(t, err, "SRT wrote what ParseSRT refuses:\n%s", out)
		require.Equal(t, string(out), string(captions.SRT(again)), "a second round trip changed the file")
	})
}

func FuzzParseWebVTT(f *testing.F) {
	f.Add([]byte("WEBVTT\n\n00:01.000 --> 00:02.500\nHello\n\nNOTE a comment\n\ncue-2\n00:00:03.000 --> 00:00:04.000 align:start\nWorld\n"))
	f.Add([]byte("WEBVTT - title\r\n\r\nSTYLE\r\n::cue { color: red }\r\n\r\n00:00:01.000 --> 00:00:02.000\r\n&lt;b&gt;\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		segs, err := captions.ParseWebVTT(data)
		if err != nil {
			require.ErrorIs(t, err, captions.ErrSyntax)
			return
		}
		out := captions.WebVTT(segs)
		again, err := captions.ParseWebVTT(out)
		require.NoError(t, err, "WebVTT wrote what ParseWebVTT refuses:\n%s", out)
		require.Equal(t, string(out), string(captions.WebVTT(again)), "a second round trip changed the file")
	})
}
