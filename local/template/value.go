package template

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The types here decode resolved properties leniently, as CloudFormation reads
// them: numbers and booleans may be written as strings ("30", "true"), which
// is also what a Ref to a Number parameter produces.

// number is an integer property; nil pointers mean "not set".
type number int

func (n *number) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	s, ok := scalarString(v)
	if !ok {
		return fmt.Errorf("%s is not a number", b)
	}
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	*n = number(i)
	return nil
}

// boolean is a true/false property.
type boolean bool

func (p *boolean) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*p = boolean(x)
		return nil
	case string:
		switch strings.ToLower(x) {
		case "true":
			*p = true
			return nil
		case "false":
			*p = false
			return nil
		}
	}
	return fmt.Errorf("%s is not true or false", b)
}

// text is a string property that may be written as a number or boolean.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	s, ok := scalarString(v)
	if !ok {
		return fmt.Errorf("%s is not a string", b)
	}
	*t = text(s)
	return nil
}

// texts is a list of strings that may also be written as one string.
type texts []string

func (t *texts) UnmarshalJSON(b []byte) error {
	var one text
	if err := json.Unmarshal(b, &one); err == nil {
		*t = texts{string(one)}
		return nil
	}
	var many []text
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("%s is not a string or a list of strings", b)
	}
	out := make(texts, len(many))
	for i, s := range many {
		out[i] = string(s)
	}
	*t = out
	return nil
}

func (n *number) or(def int) int {
	if n == nil {
		return def
	}
	return int(*n)
}

func (p *boolean) or(def bool) bool {
	if p == nil {
		return def
	}
	return bool(*p)
}

func (t *text) or(def string) string {
	if t == nil {
		return def
	}
	return string(*t)
}
