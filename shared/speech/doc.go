// Package speech declares what the pipeline needs from speech providers —
// a Transcriber (speech to timed text) and a Synthesizer (text to speech) —
// and implements both with local engines, so the whole pipeline runs offline
// when no provider keys are set:
//
//   - Pocketsphinx runs CMU PocketSphinx (Debian packages pocketsphinx and
//     pocketsphinx-en-us) on a 16 kHz mono WAV and groups the words it hears
//     into segments.
//   - Espeak runs eSpeak NG (Debian package espeak-ng) and returns a WAV.
//
// The paid implementations (OpenAI, ElevenLabs) live in their own packages
// and satisfy the same interfaces.
//
// # Pocketsphinx output
//
// Debian 12 ships pocketsphinx 0.8+5prealpha, whose command is
// pocketsphinx_continuous. With -time yes it prints, for each utterance it
// detects, the hypothesis and then one line per word with its start and end
// in seconds from the start of the input and a confidence:
//
//	well you got to
//	<s> 0.000 0.320 0.999300
//	well 0.330 0.650 0.991337
//	<sil> 0.660 1.080 0.999300
//	you 1.090 1.280 0.085470
//	to(2) 1.420 1.590 0.167193
//	</s> 1.600 1.900 1.000000
//
// Silence prints nothing. Newer releases (pocketsphinx 5) replace that
// command with pocketsphinx, which prints one JSON object per utterance with
// the words in "w" ({"b": start, "d": duration, "t": text}); both are read.
// Fillers (<s>, </s>, <sil>, [NOISE], ++GARBAGE++) are dropped,
// pronunciation variants lose their "(2)", and the words become segments at
// every pause of SegmentPause seconds or more, and before a segment would
// pass SegmentMax seconds.
//
// Accuracy is poor (the language model is generic and the acoustic model
// expects natural speech, not eSpeak's); speed is about 3-4x realtime on one
// core. Good enough to exercise captions, translation and voice-over offline;
// never good enough to judge a transcript by.
//
// # Safety
//
// Neither engine ever sees text or paths through a shell. Text to speak goes
// to espeak-ng on standard input (never as an argument, never as SSML), is
// stripped of control characters and cut at EspeakMaxChars. Audio goes to
// pocketsphinx on standard input as raw samples after its WAV header has been
// checked here. Every run stops when its context ends.
package speech
