package template

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// This file is the part of the reader that deploy/templatecheck shares with
// the local stack: YAML expansion, the Globals merge and condition
// evaluation. There is one implementation of each, so a rule the local stack
// follows is the rule the template checks enforce.

// ExpandYAML turns a SAM template's YAML (or JSON) into JSON with short-form
// tags written long (!Ref X becomes {"Ref": "X"}) and no intrinsic resolved.
// It fails on a document that is not YAML.
func ExpandYAML(data []byte) ([]byte, error) { return expandYAML(data) }

// MergeGlobals merges a Globals section into a resource's properties the way
// the SAM transform does: maps merge key by key (the resource wins), lists
// are appended (Globals first), and anything else is the resource's own
// value: an intrinsic function, or nil where the resource removed the
// property (AWS::NoValue). It copies what it takes from global, so editing
// the result leaves global as it was.
func MergeGlobals(global, local any) any {
	switch g := global.(type) {
	case map[string]any:
		l, ok := local.(map[string]any)
		if !ok {
			return local
		}
		if isIntrinsic(l) {
			return local
		}
		out := deepCopy(g).(map[string]any)
		for k, v := range l {
			if gv, ok := out[k]; ok {
				out[k] = MergeGlobals(gv, v)
			} else {
				out[k] = v
			}
		}
		return out
	case []any:
		if l, ok := local.([]any); ok {
			return append(deepCopy(g).([]any), l...)
		}
	}
	return local
}

// DeepCopy returns a copy of v, a tree of maps and lists, that shares
// nothing with it.
func DeepCopy(v any) any { return deepCopy(v) }

// isIntrinsic reports whether m is one intrinsic function ({"Ref": ...} or
// {"Fn::...": ...}), which SAM treats as a single value, not a map to merge.
func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// Scalar formats a string, number or boolean as CloudFormation does when it
// needs a string; ok is false for anything else.
func Scalar(v any) (string, bool) { return scalarString(v) }

// Evaluator decides what differs between stages in an unresolved template:
// the Conditions section, Fn::If, Ref to a parameter, Fn::FindInMap and
// AWS::NoValue. It leaves every other intrinsic (Ref to a resource or a
// pseudo parameter, Fn::GetAtt, Fn::Sub, ...) as written, so a check can
// still tell which resource a value names. It is the same evaluator [Parse]
// uses, in that mode.
type Evaluator struct {
	r *resolver
}

// NewEvaluator evaluates doc, a template as [ExpandYAML] gives it decoded
// into plain maps, with these parameter values (string, or []any for a list
// parameter).
func NewEvaluator(doc map[string]any, params map[string]any) *Evaluator {
	mappings, _ := doc["Mappings"].(map[string]any)
	conditions, _ := doc["Conditions"].(map[string]any)
	r := newResolver(Locals{}.withDefaults(), maps.Clone(params), nil, mappings, conditions)
	r.keepAsWritten()
	return &Evaluator{r: r}
}

// Condition evaluates the named entry of the Conditions section. It fails on
// a name the section lacks, a cycle, or an expression that is not a
// condition.
func (e *Evaluator) Condition(name string) (bool, error) { return e.r.condition(name) }

// Resolve returns a copy of v with Fn::If decided, Ref to a parameter
// replaced by its value, Fn::FindInMap looked up and AWS::NoValue removed (a
// map key or list item resolving to it is dropped; v itself becomes nil).
func (e *Evaluator) Resolve(v any) (any, error) {
	out, errs := e.r.resolve(v)
	if len(errs) > 0 {
		return nil, joinErrs(errs)
	}
	var res any
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	res = dropNoValue(res)
	if res == (noValue{}) {
		return nil, nil
	}
	return res, nil
}

// noValueMark stands for AWS::NoValue in keep mode until dropNoValue removes
// it: goformation's handlers cannot delete the key they sit under.
const noValueMark = "\x00AWS::NoValue"

type noValue struct{}

func dropNoValue(v any) any {
	switch x := v.(type) {
	case string:
		if x == noValueMark {
			return noValue{}
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if r := dropNoValue(x[k]); r != (noValue{}) {
				out[k] = r
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if r := dropNoValue(e); r != (noValue{}) {
				out = append(out, r)
			}
		}
		return out
	}
	return v
}
