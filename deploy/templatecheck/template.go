package templatecheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/redub/redub/local/template"
)

// Resource types the checks look at.
const (
	TypeFunction     = "AWS::Serverless::Function"
	TypeLayer        = "AWS::Serverless::LayerVersion"
	TypeHTTPAPI      = "AWS::Serverless::HttpApi"
	TypeQueue        = "AWS::SQS::Queue"
	TypeBucket       = "AWS::S3::Bucket"
	TypeBucketPolicy = "AWS::S3::BucketPolicy"
	TypeAlarm        = "AWS::CloudWatch::Alarm"
	TypeLogGroup     = "AWS::Logs::LogGroup"
)

// Template is a SAM template as plain data: maps, slices, strings, float64
// and bool, with every intrinsic written in its long form and unresolved.
type Template struct {
	// Dir is the directory the template was read from, the repository
	// root: where functions/ and the Makefile are. Parse leaves it empty.
	Dir string
	doc map[string]any
}

// Load reads and parses the template at path and sets Dir to its directory.
// Errors are those of reading the file and of [Parse].
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load template %s: %w", path, err)
	}
	t.Dir = filepath.Dir(path)
	return t, nil
}

// Parse reads a SAM template in YAML (or JSON). It fails on a document that
// is not YAML or has no Resources map.
func Parse(data []byte) (*Template, error) {
	out, err := template.ExpandYAML(data)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	if _, ok := doc["Resources"].(map[string]any); !ok {
		return nil, errors.New("parse template: no Resources map")
	}
	return &Template{doc: doc}, nil
}

// Clone returns a deep copy of t, to edit into a broken variant.
func (t *Template) Clone() *Template {
	doc, _ := template.DeepCopy(t.doc).(map[string]any)
	return &Template{Dir: t.Dir, doc: doc}
}

// Section returns a top-level section (Resources, Globals, Conditions, ...)
// as a live map: editing it edits the template. It adds an empty one if the
// template has none.
func (t *Template) Section(name string) map[string]any {
	m, ok := t.doc[name].(map[string]any)
	if !ok {
		m = map[string]any{}
		t.doc[name] = m
	}
	return m
}

// Resource returns the resource with this logical id as a live map, or nil.
func (t *Template) Resource(id string) map[string]any {
	r, _ := t.Section("Resources")[id].(map[string]any)
	return r
}

// Properties returns a resource's Properties as a live map (an empty one,
// added, when it has none), or nil when there is no such resource.
func (t *Template) Properties(id string) map[string]any {
	r := t.Resource(id)
	if r == nil {
		return nil
	}
	p, ok := r["Properties"].(map[string]any)
	if !ok {
		p = map[string]any{}
		r["Properties"] = p
	}
	return p
}

// TypeOf returns the resource's Type, or "" when there is no such resource.
func (t *Template) TypeOf(id string) string {
	typ, _ := t.Resource(id)["Type"].(string)
	return typ
}

// IDs returns the logical ids of the resources of type typ, sorted.
func (t *Template) IDs(typ string) []string {
	var ids []string
	for id := range t.Section("Resources") {
		if t.TypeOf(id) == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// FunctionProperties returns a copy of a function's Properties with
// Globals.Function merged in as the SAM transform merges it, by the local
// stack's own [template.MergeGlobals]: maps key by key (the function wins),
// lists appended (Globals first), anything else the function's.
func (t *Template) FunctionProperties(id string) map[string]any {
	props := t.Properties(id)
	if props == nil {
		return nil
	}
	globals, _ := t.Section("Globals")["Function"].(map[string]any)
	merged, _ := template.MergeGlobals(globals, template.DeepCopy(props)).(map[string]any)
	return merged
}

// StageValues returns the AllowedValues of the Stage parameter, the stages
// the template is deployed as.
func (t *Template) StageValues() []string {
	decl, _ := t.Section("Parameters")["Stage"].(map[string]any)
	var out []string
	for _, v := range list(decl["AllowedValues"]) {
		if s, ok := scalar(v); ok {
			out = append(out, s)
		}
	}
	return out
}

// Stage is the template as deployed with one set of parameter values. It
// evaluates through the local stack's [template.Evaluator], so the checks and
// the local stack decide conditions alike.
type Stage struct {
	name string
	t    *Template
	ev   *template.Evaluator
}

// Stage evaluates the template for these parameter values; parameters not
// given take their Default.
func (t *Template) Stage(params map[string]string) *Stage {
	values := map[string]any{}
	for name, decl := range t.Section("Parameters") {
		if d, ok := decl.(map[string]any); ok {
			if s, ok := scalar(d["Default"]); ok {
				values[name] = s
			}
		}
	}
	for k, v := range params {
		values[k] = v
	}
	name, _ := values["Stage"].(string)
	return &Stage{name: name, t: t, ev: template.NewEvaluator(t.doc, values)}
}

// Name is the value of the Stage parameter.
func (s *Stage) Name() string { return s.name }

// Has reports whether the resource exists in this stage: it is in the
// template and its Condition, if any, holds.
func (s *Stage) Has(id string) (bool, error) {
	r := s.t.Resource(id)
	if r == nil {
		return false, nil
	}
	cond, ok := r["Condition"].(string)
	if !ok {
		return true, nil
	}
	return s.Condition(cond)
}

// Condition evaluates an entry of the Conditions section. It fails on a
// name the section lacks, a cycle, or an expression that is not a
// condition.
func (s *Stage) Condition(name string) (bool, error) { return s.ev.Condition(name) }

// Resolve returns a copy of v with Fn::If decided, Ref to a parameter
// replaced by its value, Fn::FindInMap looked up and AWS::NoValue removed
// (a map key or list item resolving to it is dropped; v itself becomes nil).
// Everything else is left as written.
func (s *Stage) Resolve(v any) (any, error) { return s.ev.Resolve(v) }

// --- values -----------------------------------------------------------------

// list returns v as a list: a list as is, nil as empty, anything else as a
// list of one (CloudFormation accepts a single string for many lists).
func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// scalar formats a string, number or boolean as CloudFormation reads it.
func scalar(v any) (string, bool) { return template.Scalar(v) }

// number reads an integer property written as a number or a string.
func number(v any) (int, bool) {
	s, ok := scalar(v)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}

// truthy reads a boolean property written as a boolean or a string.
func truthy(v any) bool {
	s, _ := scalar(v)
	return strings.EqualFold(s, "true")
}

// target returns the logical id a value names when it is {"Ref": id} or
// {"Fn::GetAtt": "id.Attr"} (or ["id", "Attr"]), with the attribute.
func target(v any) (id, attr string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", "", false
	}
	if ref, isRef := m["Ref"].(string); isRef {
		return ref, "", true
	}
	switch g := m["Fn::GetAtt"].(type) {
	case string:
		id, attr, ok = strings.Cut(g, ".")
		return id, attr, ok
	case []any:
		if len(g) == 2 {
			id, _ = g[0].(string)
			attr, _ = g[1].(string)
			return id, attr, id != "" && attr != ""
		}
	}
	return "", "", false
}

// references returns the logical ids v mentions, sorted: in Ref, in
// Fn::GetAtt and in the ${Name} and ${Name.Attr} of Fn::Sub strings.
func references(v any) []string {
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if id, _, ok := target(x); ok {
				seen[id] = true
				return
			}
			if sub, ok := x["Fn::Sub"]; ok && len(x) == 1 {
				for _, name := range subNames(sub) {
					id, _, _ := strings.Cut(name, ".")
					seen[id] = true
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return slices.Sorted(maps.Keys(seen))
}

// subNames returns the names in the ${...} of an Fn::Sub argument (a
// string, or [string, variables]), skipping ${!Literal}.
func subNames(arg any) []string {
	var src string
	switch a := arg.(type) {
	case string:
		src = a
	case []any:
		if len(a) > 0 {
			src, _ = a[0].(string)
		}
	}
	var names []string
	for {
		i := strings.Index(src, "${")
		if i < 0 {
			return names
		}
		src = src[i+2:]
		j := strings.IndexByte(src, '}')
		if j < 0 {
			return names
		}
		if name := strings.TrimSpace(src[:j]); !strings.HasPrefix(name, "!") {
			names = append(names, name)
		}
		src = src[j+1:]
	}
}

// compact renders v for a message.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
