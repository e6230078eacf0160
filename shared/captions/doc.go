// Package captions writes and reads timed captions: SubRip (SRT) and WebVTT.
//
// SRT and WebVTT turn a transcript's segments into cue files. Both first tidy
// the segments the same way, so the two files always hold the same cues:
//
//   - times are rounded to whole milliseconds; a negative start becomes 0;
//   - a segment whose start is not a finite number is dropped, and one whose
//     end is missing (not finite, or not after the start) is shown for
//     DefaultDuration;
//   - text is cleaned (see below); a segment with no text left is dropped;
//   - cues are sorted by start; a cue that runs into the next one ends where
//     the next begins, and cues that start at the same millisecond are merged
//     into one, their lines kept in order, so no text is lost;
//   - cues are numbered 1, 2, 3... in the order shown (Segment.ID is not
//     used: transcripts often count from 0, and SRT counts from 1).
//
// # Text
//
// Text is what people say, never markup. Line breaks are kept (a cue may
// have several lines), but blank lines, which end a cue in both formats, are
// removed, as are control characters, and each line is trimmed. Invalid
// UTF-8 becomes U+FFFD.
//
// WebVTT has escapes, so "&", "<" and ">" are written as "&amp;", "&lt;" and
// "&gt;", which also keeps "-->" out of cue text. SRT has none, and players
// (FFmpeg included) read "<b>", "<font ...>", ASS overrides such as "{\an8}"
// and the "\N" line break in it; so SRT text has "<" and ">" replaced by the
// look-alikes "‹" and "›", and "{", "}" and "\" by their full-width forms
// "｛", "｝" and "＼". The words on screen stay the same; no character in them
// can change how a player lays them out.
//
// Mux the SRT, not the WebVTT, into media: FFmpeg 5.1 decodes WebVTT escapes
// and then reads the result as ASS, so "\an8" in WebVTT text comes out of it
// as a line break.
//
// # Reading
//
// ParseSRT and ParseWebVTT read cue files back, for tests and for checking
// what FFmpeg wrote. They return the cues in file order, as written (no
// sorting or clamping), and fail with an error wrapping ErrSyntax on a cue
// whose timing line is malformed. ParseWebVTT decodes escapes and drops
// markup tags (<v Speaker>, <i>, ...); ParseSRT returns SRT text as written,
// tags included.
package captions
