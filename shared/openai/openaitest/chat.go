package openaitest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// chatRequest is the part of a chat completion request the fake reads.
type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	ResponseFormat *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string         `json:"name"`
			Strict *bool          `json:"strict"`
			Schema map[string]any `json:"schema"`
		} `json:"json_schema"`
	} `json:"response_format"`
}

// segmentIn is a segment of the user message.
type segmentIn struct {
	ID       *int    `json:"id"`
	Text     *string `json:"text"`
	MaxChars *int    `json:"max_chars"`
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	if !s.begin(w, r, &s.calls.ChatCompletions) {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		badRequest(w, "", "", "Invalid Content-Type header ("+r.Header.Get("Content-Type")+"), expected application/json.")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
	if err != nil {
		badRequest(w, "", "", "could not read the body: "+err.Error())
		return
	}
	var req chatRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		badRequest(w, "", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)")
		return
	}
	if msg, param := checkChat(&req); msg != "" {
		badRequest(w, param, "", msg)
		return
	}

	// The segments are the last user message; the target language is a
	// line of the system (or developer) message.
	var segs struct {
		Segments []segmentIn `json:"segments"`
	}
	var target string
	shorten := false
	for _, m := range req.Messages {
		text := contentText(m.Content)
		switch m.Role {
		case "user":
			segs.Segments = nil
			if err := json.Unmarshal([]byte(text), &segs); err != nil {
				badRequest(w, "messages", "", `openaitest: the last user message must be JSON {"segments":[{"id":...,"text":...}]}: `+err.Error())
				return
			}
		case "system", "developer":
			if m := targetLine().FindStringSubmatch(text); m != nil {
				target = strings.TrimSpace(m[1])
			}
			shorten = shorten || strings.HasPrefix(text, "You shorten")
		}
	}
	for _, sg := range segs.Segments {
		if sg.ID == nil || sg.Text == nil {
			badRequest(w, "messages", "", `openaitest: every segment of the user message needs an "id" and a "text"`)
			return
		}
	}
	if target == "" {
		target = "translated"
	}

	s.mu.Lock()
	s.chats = append(s.chats, json.RawMessage(raw))
	refuse := s.refusals > 0
	wordy := s.wordy
	var corrupt Corruption
	if refuse {
		s.refusals--
	} else if len(s.corrupt) > 0 {
		corrupt = s.corrupt[0]
		s.corrupt = s.corrupt[1:]
	}
	s.mu.Unlock()

	message := map[string]any{"role": "assistant", "content": nil, "refusal": nil, "annotations": []any{}}
	finish := "stop"
	var content string
	if refuse {
		message["refusal"] = "I'm sorry, but I can't help with that request."
	} else {
		content, finish = answer(segs.Segments, target, corrupt, wordy, shorten)
		message["content"] = content
	}
	prompt := tokens(len(raw))
	completion := tokens(len(content))
	writeJSON(w, http.StatusOK, map[string]any{
		"id":                 "chatcmpl-" + randomHex(12),
		"object":             "chat.completion",
		"created":            time.Now().Unix(),
		"model":              req.Model,
		"system_fingerprint": "fp_openaitest",
		"choices": []any{map[string]any{
			"index": 0, "message": message, "logprobs": nil, "finish_reason": finish,
		}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

func targetLine() *regexp.Regexp {
	return regexp.MustCompile(`(?mi)^target language:[ \t]*(\S.*?)[ \t]*$`)
}

// tokens estimates a token count: about four characters a token.
func tokens(chars int) int { return max(1, (chars+3)/4) }

// answer is the model's structured answer: each text prefixed with
// "[target] " (made wordy times longer when SetWordy asked for it), cut to
// the segment's max_chars at a word boundary when it has one, as a model that
// follows the instruction would; a request to shorten (the system message
// starts "You shorten") keeps the text and only cuts it. Then it is spoiled
// as c says.
func answer(in []segmentIn, target string, c Corruption, wordy float64, shorten bool) (content, finish string) {
	type seg struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
	}
	out := make([]seg, 0, len(in)+1)
	for _, sg := range in {
		text := *sg.Text
		if !shorten {
			text = "[" + target + "] " + lengthen(text, wordy)
		}
		if sg.MaxChars != nil && *sg.MaxChars > 0 {
			text = cut(text, *sg.MaxChars)
		}
		out = append(out, seg{ID: *sg.ID, Text: text})
	}
	finish = "stop"
	switch c {
	case MissingID:
		if len(out) > 0 {
			out = out[:len(out)-1]
		}
	case ExtraID:
		maxID := 0
		for _, o := range out {
			maxID = max(maxID, o.ID)
		}
		out = append(out, seg{ID: maxID + 1000, Text: "[" + target + "] invented"})
	case DuplicateID:
		if len(out) > 0 {
			out = append(out, out[0])
		}
	}
	b, _ := json.Marshal(map[string]any{"segments": out})
	content = string(b)
	switch c {
	case InvalidJSON:
		content = content[:len(content)/2]
	case CutOff:
		content, finish = content[:len(content)*2/3], "length"
	}
	return content, finish
}

// lengthen repeats text's words until it is factor times as long (a verbose
// translation); factor <= 1 leaves it.
func lengthen(text string, factor float64) string {
	words := strings.Fields(text)
	if factor <= 1 || len(words) == 0 {
		return text
	}
	want := int(float64(len(text)) * factor)
	b := strings.Builder{}
	b.WriteString(text)
	for i := 0; b.Len() < want; i++ {
		b.WriteString(" " + strings.Trim(words[i%len(words)], ".,!?"))
	}
	return b.String()
}

// cut shortens text to at most n bytes at the last space before the cut.
func cut(text string, n int) string {
	if len(text) <= n {
		return text
	}
	t := text[:n]
	if i := strings.LastIndexByte(t, ' '); i > 0 {
		t = t[:i]
	}
	return strings.TrimRight(t, " ,;:")
}

// contentText is a message's content: a string, or the text parts of an
// array of parts.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// checkChat checks what the real API checks (model, messages, a strict
// json_schema response format) and what the fake needs (the schema of
// translated segments). It returns the error message and the offending
// parameter, or "".
func checkChat(req *chatRequest) (msg, param string) {
	switch {
	case req.Model == "":
		return "you must provide a model parameter", "model"
	case !regexp.MustCompile(`^(gpt-|o\d)`).MatchString(req.Model):
		return fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model), "model"
	case len(req.Messages) == 0:
		return "[] is too short - 'messages'", "messages"
	}
	for i, m := range req.Messages {
		if !slices.Contains([]string{"system", "developer", "user", "assistant"}, m.Role) {
			return fmt.Sprintf("Invalid value: '%s'. Supported values are: 'system', 'assistant', 'user', 'developer'.", m.Role), fmt.Sprintf("messages.[%d].role", i)
		}
	}
	rf := req.ResponseFormat
	switch {
	case rf == nil:
		return "openaitest: the fake answers only Structured Outputs requests (response_format json_schema)", "response_format"
	case rf.Type != "json_schema":
		return fmt.Sprintf("openaitest: response_format.type is %q, want json_schema", rf.Type), "response_format.type"
	case rf.JSONSchema == nil:
		return "Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema"
	case !regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`).MatchString(rf.JSONSchema.Name):
		return fmt.Sprintf("Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'. (%q)", rf.JSONSchema.Name), "response_format.json_schema.name"
	case rf.JSONSchema.Strict == nil || !*rf.JSONSchema.Strict:
		return "openaitest: response_format.json_schema.strict must be true", "response_format.json_schema.strict"
	case rf.JSONSchema.Schema == nil:
		return "openaitest: response_format.json_schema.schema is missing", "response_format.json_schema.schema"
	}
	prefix := fmt.Sprintf("Invalid schema for response_format '%s': ", rf.JSONSchema.Name)
	if typ, _ := rf.JSONSchema.Schema["type"].(string); typ != "object" {
		return prefix + "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"" + typ + "\"'.", "response_format"
	}
	if m := strictProblem(rf.JSONSchema.Schema, nil); m != "" {
		return prefix + m, "response_format"
	}
	if !describesSegments(rf.JSONSchema.Schema) {
		return `openaitest: the schema must describe {"segments":[{"id":integer,"text":string}]}`, "response_format"
	}
	return "", ""
}

// strictProblem checks what strict mode requires of every object schema:
// additionalProperties false and every property required.
func strictProblem(schema map[string]any, context []string) string {
	where := "In context=(" + quoteAll(context) + "), "
	if props, ok := schema["properties"].(map[string]any); ok || schema["type"] == "object" {
		if ap, ok := schema["additionalProperties"].(bool); !ok || ap {
			return where + "'additionalProperties' is required to be supplied and to be false."
		}
		var required []string
		if list, ok := schema["required"].([]any); ok {
			for _, r := range list {
				if s, ok := r.(string); ok {
					required = append(required, s)
				}
			}
		}
		names := make([]string, 0, len(props))
		for name := range props {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if !slices.Contains(required, name) {
				return where + "'required' is required to be supplied and to be an array including every key in properties. Missing '" + name + "'."
			}
			sub, ok := props[name].(map[string]any)
			if !ok {
				return where + "property '" + name + "' must be a schema object."
			}
			if m := strictProblem(sub, append(slices.Clone(context), "properties", name)); m != "" {
				return m
			}
		}
	}
	if items, ok := schema["items"].(map[string]any); ok {
		return strictProblem(items, append(slices.Clone(context), "items"))
	}
	return ""
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = "'" + s + "'"
	}
	out := strings.Join(q, ", ")
	if len(list) == 1 {
		out += ","
	}
	return out
}

// describesSegments reports whether schema is {"segments":[{"id":integer,
// "text":string}]}.
func describesSegments(schema map[string]any) bool {
	get := func(m map[string]any, keys ...string) map[string]any {
		for _, k := range keys {
			next, ok := m[k].(map[string]any)
			if !ok {
				return nil
			}
			m = next
		}
		return m
	}
	segs := get(schema, "properties", "segments")
	items := get(segs, "items")
	return segs != nil && segs["type"] == "array" && items != nil && items["type"] == "object" &&
		get(items, "properties", "id")["type"] == "integer" && get(items, "properties", "text")["type"] == "string"
}
