package media

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzParseProbe feeds parseProbe any ffprobe output: ffprobe prints what a
// hostile file's headers say. Whatever it makes of them must pass through
// the checks without a panic and be storable as the asset's probe JSON,
// reading back the same.
func FuzzParseProbe(f *testing.F) {
	f.Add([]byte(`{"streams":[{"index":0,"codec_name":"h264","codec_type":"video","width":1280,"height":720,"coded_width":1280,"coded_height":720,` +
		`"r_frame_rate":"30/1","avg_frame_rate":"30000/1001","duration":"8.000000","side_data_list":[{"rotation":-90}]},` +
		`{"index":1,"codec_name":"aac","codec_type":"audio","sample_rate":"48000","channels":2,"duration":"8.000000"}],` +
		`"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","format_long_name":"QuickTime / MOV","duration":"8.000000","size":"123456","bit_rate":"123456"}}`))
	f.Add([]byte(`{"streams":[{"index":0,"codec_name":"mjpeg","codec_type":"video","width":600,"height":600,"disposition":{"attached_pic":1}},` +
		`{"index":1,"codec_name":"mp3","codec_type":"audio","sample_rate":"44100","channels":2}],"format":{"format_name":"mp3","duration":"N/A"}}`))
	f.Add([]byte(`{"streams":[{"index":0,"codec_name":"h264","codec_type":"video","width":2,"height":2,"avg_frame_rate":"1e308/1e-308"},{"index":1,"codec_name":"adpcm_ms","codec_type":"audio"}],"format":{}}`))
	f.Fuzz(func(t *testing.T, out []byte) {
		info, err := parseProbe(out)
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, info.Duration, time.Duration(0))
		require.Equal(t, len(info.streams), info.Streams)
		_ = info.check(DefaultLimits(), formats["video/mp4"])
		_ = info.checkDuration(DefaultLimits())
		_ = checkCodecs(info.streams)

		b, err := json.Marshal(info.Info)
		require.NoError(t, err, "the probe data cannot be stored")
		var back Info
		require.NoError(t, json.Unmarshal(b, &back))
		require.InDelta(t, info.Duration.Seconds(), back.Duration.Seconds(), 1e-6)
		back.Duration = info.Duration
		require.Equal(t, info.Info, back)
	})
}
