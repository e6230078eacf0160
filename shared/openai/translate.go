package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/redub/redub/shared/provider"
)

// Translation defaults.
const (
	DefaultTranslateModel = "gpt-4o-mini"
	DefaultChunkChars     = 6000 // characters of segment text per request
)

// CodeInvalidAnswer is the provider.Error code of a model answer that breaks
// the contract twice in a row: bad JSON, or a missing, extra or duplicate id.
const CodeInvalidAnswer = "invalid_answer"

// answerTries is how many times one chunk is asked for before a malformed
// answer is an error.
const answerTries = 2

// TranslateRequest says how to translate.
type TranslateRequest struct {
	Model  string // default DefaultTranslateModel
	Source string // the language of the segments ("en", "English"); "" lets the model tell
	Target string // the language to translate into; required
	// Keyterms are words and names to keep as they are.
	Keyterms []string
	// Slots sends each segment's Seconds and MaxChars and asks for
	// translations that fit them (slot-aware translation).
	Slots bool
	// Shorten asks for each text rewritten shorter in the target language
	// (the texts are already in it), within MaxChars.
	Shorten bool
}

// Translate returns segs with their texts translated into req.Target: the
// same ids, start and end times, in the same order. Segments are sent in
// chunks of about ChunkChars characters. Usage sums every request, including
// those whose answers were refused, and is returned with errors too.
//
// It fails before any request when req.Target is empty or two segments share
// an id. A model answer that is malformed twice is a *provider.Error with
// Code CodeInvalidAnswer; a refusal or a content filter stop is a permanent
// *provider.Error (Code "refusal" or "content_filter"); other API failures
// are *provider.Error values from provider.Do.
func (c *Client) Translate(ctx context.Context, segs []Segment, req TranslateRequest) ([]Segment, Usage, error) {
	if err := c.checkKey(); err != nil {
		return nil, Usage{}, err
	}
	if strings.TrimSpace(req.Target) == "" {
		return nil, Usage{}, errors.New("translate: no target language")
	}
	if req.Model == "" {
		req.Model = DefaultTranslateModel
	}
	seen := make(map[int]bool, len(segs))
	for _, s := range segs {
		if seen[s.ID] {
			return nil, Usage{}, fmt.Errorf("translate: segment id %d appears twice in the input", s.ID)
		}
		seen[s.ID] = true
	}

	limit := c.ChunkChars
	if limit <= 0 {
		limit = DefaultChunkChars
	}
	out := slices.Clone(segs)
	var total Usage
	for _, span := range chunks(segs, limit) {
		texts, u, err := c.translateChunk(ctx, segs[span[0]:span[1]], req)
		total.add(u)
		if err != nil {
			return nil, total, fmt.Errorf("translate segments %d-%d of %d: %w", span[0]+1, span[1], len(segs), err)
		}
		for i := span[0]; i < span[1]; i++ {
			out[i].Text = texts[out[i].ID]
		}
	}
	return out, total, nil
}

// Chunks splits segs as Translate sends them, one request each: about
// ChunkChars characters of text per chunk. A caller that records each paid
// request (the ledger) translates chunk by chunk.
func (c *Client) Chunks(segs []Segment) [][]Segment {
	limit := c.ChunkChars
	if limit <= 0 {
		limit = DefaultChunkChars
	}
	spans := chunks(segs, limit)
	out := make([][]Segment, len(spans))
	for i, sp := range spans {
		out[i] = segs[sp[0]:sp[1]]
	}
	return out
}

// chunks splits segs into [start, end) spans of at most limit characters of
// text; a longer segment gets a span of its own.
func chunks(segs []Segment, limit int) [][2]int {
	var out [][2]int
	start, size := 0, 0
	for i, s := range segs {
		n := utf8.RuneCountInString(s.Text)
		if i > start && size+n > limit {
			out = append(out, [2]int{start, i})
			start, size = i, 0
		}
		size += n
	}
	if start < len(segs) {
		out = append(out, [2]int{start, len(segs)})
	}
	return out
}

// translateChunk asks for one chunk, once more if the answer is malformed.
func (c *Client) translateChunk(ctx context.Context, chunk []Segment, req TranslateRequest) (map[int]string, Usage, error) {
	var total Usage
	for try := 1; ; try++ {
		texts, u, err := c.complete(ctx, chunk, req)
		total.add(u)
		if err == nil {
			return texts, total, nil
		}
		e, ok := errors.AsType[*provider.Error](err)
		if !ok || e.Code != CodeInvalidAnswer {
			return nil, total, err
		}
		if try >= answerTries {
			e.Attempts = try
			return nil, total, err
		}
	}
}

// Chat completion request and answer, as far as Translate uses them.
type (
	chatMessage struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	chatRequest struct {
		Model          string          `json:"model"`
		Messages       []chatMessage   `json:"messages"`
		ResponseFormat json.RawMessage `json:"response_format"`
	}
	chatResponse struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
				Refusal *string `json:"refusal"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	// segmentsJSON is both what is sent and what the model must answer.
	segmentsJSON struct {
		Segments []segmentJSON `json:"segments"`
	}
	segmentJSON struct {
		ID   *int    `json:"id"`
		Text *string `json:"text"`
	}
	// segmentInJSON is a segment as sent: with its slot when asked.
	segmentInJSON struct {
		ID       int      `json:"id"`
		Text     string   `json:"text"`
		Seconds  *float64 `json:"seconds,omitempty"`
		MaxChars *int     `json:"max_chars,omitempty"`
	}
)

// responseFormat asks for Structured Outputs: the answer must match the
// schema, which strict mode requires to list every property as required and
// to forbid others.
const responseFormat = `{
  "type": "json_schema",
  "json_schema": {
    "name": "translated_segments",
    "strict": true,
    "schema": {
      "type": "object",
      "properties": {
        "segments": {
          "type": "array",
          "description": "Every input segment, once each, in input order.",
          "items": {
            "type": "object",
            "properties": {
              "id": {"type": "integer", "description": "The id of the input segment, unchanged."},
              "text": {"type": "string", "description": "The segment's text in the target language."}
            },
            "required": ["id", "text"],
            "additionalProperties": false
          }
        }
      },
      "required": ["segments"],
      "additionalProperties": false
    }
  }
}`

func systemPrompt(req TranslateRequest) string {
	source := req.Source
	if source == "" {
		source = "detect it from the text"
	}
	var extra string
	if req.Slots || req.Shorten {
		extra += " Each segment has seconds (how long it is spoken) and max_chars (how many characters can be spoken in that time): " +
			"the text you answer must not be longer than max_chars characters; say less, in natural words, rather than run over."
	}
	if len(req.Keyterms) > 0 {
		extra += " Keep these terms exactly as written: " + strings.Join(req.Keyterms, ", ") + "."
	}
	if req.Shorten {
		return "You shorten the dubbing lines of a video.\n" +
			"Target language: " + req.Target + "\n" +
			`The user sends JSON {"segments":[{"id":...,"text":...,"seconds":...,"max_chars":...}]} whose texts are already in the target language. ` +
			"Answer with the same shape: every id exactly once, unchanged and in the same order, with its text rewritten shorter in the target language, " +
			"keeping its meaning, names and numbers." + extra
	}
	return "You translate the subtitles of a video.\n" +
		"Source language: " + source + "\n" +
		"Target language: " + req.Target + "\n" +
		`The user sends JSON {"segments":[{"id":...,"text":...}]}. Answer with the same shape: ` +
		"every id exactly once, unchanged and in the same order, with its text translated into the target language. " +
		"Translate each segment on its own so it still fits its time on screen: never merge, split, add or drop segments. " +
		"Keep names, numbers and tone. An empty text stays empty." + extra
}

// complete sends one chunk and checks the answer.
func (c *Client) complete(ctx context.Context, chunk []Segment, req TranslateRequest) (map[int]string, Usage, error) {
	in := struct {
		Segments []segmentInJSON `json:"segments"`
	}{Segments: make([]segmentInJSON, len(chunk))}
	for i, sg := range chunk {
		in.Segments[i] = segmentInJSON{ID: sg.ID, Text: sg.Text}
		if (req.Slots || req.Shorten) && sg.MaxChars > 0 {
			secs, maxChars := sg.End-sg.Start, sg.MaxChars
			in.Segments[i].Seconds, in.Segments[i].MaxChars = &secs, &maxChars
		}
	}
	user, err := json.Marshal(in)
	if err != nil {
		return nil, Usage{}, err
	}
	body, err := json.Marshal(chatRequest{
		Model: req.Model,
		Messages: []chatMessage{
			{Role: "system", Content: systemPrompt(req)},
			{Role: "user", Content: string(user)},
		},
		ResponseFormat: json.RawMessage(responseFormat),
	})
	if err != nil {
		return nil, Usage{}, err
	}

	url := c.baseURL + "/chat/completions"
	resp, err := provider.Do(ctx, c.http, c.Policy, func() (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		c.authorize(r)
		r.Header.Set("Content-Type", "application/json")
		return r, nil
	})
	if err != nil {
		return nil, Usage{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var v chatResponse
	if err := decodeJSON(resp, &v); err != nil {
		return nil, Usage{}, err
	}
	u := Usage{PromptTokens: v.Usage.PromptTokens, CompletionTokens: v.Usage.CompletionTokens}
	texts, err := v.texts(chunk)
	return texts, u, err
}

// texts checks the answer against the chunk: every id exactly once, nothing
// else. Nothing is repaired.
func (v chatResponse) texts(chunk []Segment) (map[int]string, error) {
	if len(v.Choices) == 0 {
		return nil, invalidAnswer("the answer has no choices")
	}
	ch := v.Choices[0]
	if r := ch.Message.Refusal; r != nil && *r != "" {
		e := unusable(http.StatusOK, "refusal", *r)
		e.Permanent = true
		return nil, e
	}
	switch ch.FinishReason {
	case "content_filter":
		e := unusable(http.StatusOK, "content_filter", "the answer was stopped by OpenAI's content filter")
		e.Permanent = true
		return nil, e
	case "length":
		return nil, invalidAnswer("the answer was cut off at the token limit (lower ChunkChars)")
	}
	if ch.Message.Content == nil {
		return nil, invalidAnswer("the answer has no content")
	}
	var got segmentsJSON
	dec := json.NewDecoder(strings.NewReader(*ch.Message.Content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		return nil, invalidAnswer("the model's answer is not the requested JSON: " + err.Error())
	}
	if dec.More() {
		return nil, invalidAnswer("the model's answer has data after the JSON object")
	}

	want := make(map[int]bool, len(chunk))
	for _, s := range chunk {
		want[s.ID] = true
	}
	texts := make(map[int]string, len(chunk))
	var extra, dup []int
	for _, s := range got.Segments {
		if s.ID == nil || s.Text == nil {
			return nil, invalidAnswer("the model's answer has a segment without an id or a text")
		}
		id := *s.ID
		_, repeated := texts[id]
		switch {
		case !want[id]:
			extra = append(extra, id)
		case repeated:
			dup = append(dup, id)
		default:
			texts[id] = *s.Text
		}
	}
	var missing []int
	for _, s := range chunk {
		if _, ok := texts[s.ID]; !ok {
			missing = append(missing, s.ID)
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing id(s) "+ids(missing))
	}
	if len(extra) > 0 {
		problems = append(problems, "unknown id(s) "+ids(extra))
	}
	if len(dup) > 0 {
		problems = append(problems, "repeated id(s) "+ids(dup))
	}
	if len(problems) > 0 {
		return nil, invalidAnswer("the model's translation has " + strings.Join(problems, ", "))
	}
	return texts, nil
}

func invalidAnswer(msg string) *provider.Error {
	return unusable(http.StatusOK, CodeInvalidAnswer, msg)
}

// ids lists up to ten ids.
func ids(list []int) string {
	var b strings.Builder
	for i, id := range list {
		if i == 10 {
			fmt.Fprintf(&b, " and %d more", len(list)-10)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(id))
	}
	return b.String()
}
