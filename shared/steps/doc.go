// Package steps holds the work of each pipeline step (ingest, transcode,
// transcribe, translate, synthesize, mix) and the sweeper. Each step reads
// its inputs from storage, runs FFmpeg or a speech provider, and writes its
// files under jobs/<job>/<step>/ with fixed names, so a repeated run
// overwrites rather than duplicates. Paid provider calls go through the
// ledger; the local engines (pocketsphinx, espeak-ng) run when no key is set.
package steps
