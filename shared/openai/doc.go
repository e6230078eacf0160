// Package openai is a small client for the two OpenAI endpoints redub pays
// for: speech-to-text (POST /audio/transcriptions) and chat completions used
// to translate transcripts (POST /chat/completions).
//
// Requests go through provider.Do, so rate limits, server errors and network
// failures are retried with backoff (honouring retry-after-ms and
// Retry-After), and failures are *provider.Error values whose text names
// OPENAI_API_KEY, never the key. The base URL is configurable
// (OPENAI_BASE_URL), which is how tests point the client at openaitest.
//
// # Transcribe
//
// Transcribe uploads one audio file as multipart/form-data and asks for
// response_format=verbose_json with segment timestamps. Files over
// MaxUploadBytes (25 MB, the API's limit) are refused before anything is
// sent: the caller splits longer audio. Only whisper-1 answers verbose_json
// with segments; other models are refused by the API.
//
// # Translate
//
// Translate sends segments as JSON ({"segments":[{"id","text"}]}) and asks
// for an answer of the same shape through Structured Outputs
// (response_format json_schema, strict). Long transcripts go in chunks of
// about ChunkChars characters and are stitched back in order.
//
// The answer is checked, never repaired: it must hold every id of the chunk
// exactly once and nothing else. A malformed answer (bad JSON, a missing,
// extra or duplicate id, an answer cut off at the token limit) is asked for
// once more, since models are not deterministic; a second bad answer is an
// *provider.Error with Code "invalid_answer". Start and end times always come
// from the input, so a model cannot move a caption. A refusal
// (message.refusal) or a content filter stop is permanent.
//
// Usage counts every paid call, retries of bad answers included, and is
// returned with errors too, so a ledger can record what a failure cost.
package openai
