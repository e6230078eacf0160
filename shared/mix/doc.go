// Package mix lays a new voice over a video: it fits synthesized speech clips
// into the time slots of the sentences they replace, lowers the original
// audio under them, normalizes the loudness and muxes the result, with a
// subtitle track, in one FFmpeg run.
//
// # The filter graph
//
// Mix writes one filter graph to a file and passes it with
// -filter_complex_script, so hundreds of clips never meet an argv limit. For
// a 6 s video with two clips, the first of which had to be sped up (2.5 s of
// speech for a 2 s slot at 0.5 s: tempo capped at 1.25, then cut with a
// fade), it reads (lines wrapped):
//
//	[0:a:0]aresample=48000:async=1:first_pts=0,aformat=sample_fmts=fltp:channel_layouts=stereo,
//	  asetnsamples=n=480:p=0,
//	  volume=volume='1-0.8741*(clip(min(t-0.4,2.6-t)*10,0,1)+clip(min(t-3.4,5.6-t)*10,0,1))':eval=frame[bg];
//	[1:a:0]asetpts=PTS-STARTPTS,atempo=1.25,atrim=duration=2,afade=t=out:st=1.95:d=0.05,
//	  aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,
//	  adelay=delays=24000S:all=1,apad=whole_len=168000,atrim=end_sample=168000[c1];
//	[2:a:0]asetpts=PTS-STARTPTS,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[c2];
//	[c1][c2]concat=n=2:v=0:a=1[lane0];
//	[bg][lane0]amix=inputs=2:duration=first:dropout_transition=0:normalize=0,
//	  loudnorm=I=-16:TP=-1.5:LRA=11,aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo[aout]
//
// Each clip that is longer than its slot is sped up (atempo, chained when
// the factor passes 2) by at most MaxTempo; what still does not fit is cut at
// the slot's end with a 50 ms fade-out. A shorter clip plays as is, followed
// by silence. Clips are placed sample-exactly: the clips that do not overlap
// share a "lane", a concat in which each clip is padded up to the start of
// the next, and the lanes (one, or two when slots overlap) are mixed with
// amix. One amix over a delayed input per clip would do the same, but costs
// the media's length once per clip.
//
// No FFmpeg process opens more than MaxClipInputs (64) clips: each input
// is a file descriptor and a demuxer thread, and Lambda gives a process
// 1,024 descriptors. More clips are first mixed, in start order, in batches
// of 64 into 48 kHz stereo PCM WAV tracks, each spanning its clips, by the
// same lanes; the final graph places the tracks as it would the clips
// (tempo 1), and ducks the original under the clips' own slots.
//
// The original is lowered by DuckDB over each clip's slot, with 100 ms ramps
// either side, through a volume expression evaluated every 10 ms. Slots less
// than 200 ms apart are ducked as one, and the expression is a binary tree of
// if(lt(t,...)) over groups of eight slots: about 40 bytes a slot, a dozen
// terms read per evaluation, and never the flat sum of more than about 95
// terms that FFmpeg 5.1's expression parser refuses.
//
// The output keeps the original's length (amix duration=first; no
// -shortest): its video stream copied (H.264, HEVC or AV1; other codecs
// take the picture of the H.264 rendition, Input.Picture), one AAC 128 kb/s
// stereo track, and
// the captions as a mov_text subtitle track, both tagged with the language,
// with the index at the front (+faststart). An SRT without cues adds no
// subtitle track, since FFmpeg cannot read an empty one.
//
// # Parts
//
// Long media is mixed in parts (the mix step's MIX_PART_SECONDS):
// RenderPart renders the graph above over one time range, without loudnorm,
// into 16-bit PCM at -6 dB and measures its BS.1770 100 ms blocks;
// MergeParts joins the parts' PCM, applies one gain from all the blocks and
// a -1.5 dBFS limiter, and encodes and muxes as Mix does.
package mix
