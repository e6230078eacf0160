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
	"sync"

	"github.com/awslabs/goformation/v7/intrinsics"
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

// yamlMu serialises intrinsics.ProcessYAML, which registers its tag
// resolvers in a package-level map on every call (concurrent calls race).
var yamlMu sync.Mutex

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
	yamlMu.Lock()
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	yamlMu.Unlock()
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
	doc, _ := deepCopy(t.doc).(map[string]any)
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
// Globals.Function merged in as the SAM transform merges it: maps key by
// key (the function wins), lists appended (Globals first), anything else
// the function's.
func (t *Template) FunctionProperties(id string) map[string]any {
	props := t.Properties(id)
	if props == nil {
		return nil
	}
	globals, _ := t.Section("Globals")["Function"].(map[string]any)
	merged, _ := mergeGlobals(globals, deepCopy(props)).(map[string]any)
	return merged
}

func mergeGlobals(global, local any) any {
	switch g := global.(type) {
	case map[string]any:
		l, ok := local.(map[string]any)
		if !ok {
			if local == nil {
				return deepCopy(g)
			}
			return local
		}
		out := deepCopy(g).(map[string]any)
		for k, v := range l {
			if gv, ok := out[k]; ok {
				out[k] = mergeGlobals(gv, v)
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
	if local == nil {
		return deepCopy(global)
	}
	return local
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

// Stage is the template as deployed with one set of parameter values.
type Stage struct {
	t      *Template
	params map[string]string
	conds  map[string]bool
	busy   map[string]bool
}

// Stage evaluates the template for these parameter values; parameters not
// given take their Default.
func (t *Template) Stage(params map[string]string) *Stage {
	values := map[string]string{}
	for name, decl := range t.Section("Parameters") {
		if d, ok := decl.(map[string]any); ok {
			if s, ok := scalar(d["Default"]); ok {
				values[name] = s
			}
		}
	}
	maps.Copy(values, params)
	return &Stage{t: t, params: values, conds: map[string]bool{}, busy: map[string]bool{}}
}

// Name is the value of the Stage parameter.
func (s *Stage) Name() string { return s.params["Stage"] }

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
// name the section lacks, a cycle, or an expression it cannot evaluate
// (Fn::Equals on anything but parameters and literals).
func (s *Stage) Condition(name string) (bool, error) {
	if v, ok := s.conds[name]; ok {
		return v, nil
	}
	expr, ok := s.t.Section("Conditions")[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not in Conditions", name)
	}
	if s.busy[name] {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	s.busy[name] = true
	v, err := s.eval(expr)
	delete(s.busy, name)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	s.conds[name] = v
	return v, nil
}

func (s *Stage) eval(expr any) (bool, error) {
	switch x := expr.(type) {
	case bool:
		return x, nil
	case string: // !Condition Name loses its tag in ProcessYAML and arrives as "Name"
		return s.Condition(x)
	case map[string]any:
		if len(x) != 1 {
			break
		}
		for fn, arg := range x {
			args := list(arg)
			switch fn {
			case "Condition":
				name, _ := arg.(string)
				return s.Condition(name)
			case "Fn::Equals":
				if len(args) != 2 {
					return false, fmt.Errorf("Fn::Equals needs two values, got %v", arg)
				}
				a, errA := s.scalarValue(args[0])
				b, errB := s.scalarValue(args[1])
				if err := errors.Join(errA, errB); err != nil {
					return false, err
				}
				return a == b, nil
			case "Fn::Not":
				if len(args) != 1 {
					return false, fmt.Errorf("Fn::Not needs one condition, got %v", arg)
				}
				v, err := s.eval(args[0])
				return !v, err
			case "Fn::And", "Fn::Or":
				and := fn == "Fn::And"
				result := and
				for _, a := range args {
					v, err := s.eval(a)
					if err != nil {
						return false, err
					}
					if and {
						result = result && v
					} else {
						result = result || v
					}
				}
				return result, nil
			}
		}
	}
	return false, fmt.Errorf("cannot evaluate %s", compact(expr))
}

func (s *Stage) scalarValue(v any) (string, error) {
	r, err := s.Resolve(v)
	if err != nil {
		return "", err
	}
	str, ok := scalar(r)
	if !ok {
		return "", fmt.Errorf("%s is not a parameter or a literal", compact(v))
	}
	return str, nil
}

// noValue stands for AWS::NoValue while resolving.
type noValue struct{}

// Resolve returns a copy of v with Fn::If decided, Ref to a parameter
// replaced by its value, Fn::FindInMap looked up and AWS::NoValue removed
// (a map key or list item resolving to it is dropped; v itself becomes nil).
// Everything else is left as written.
func (s *Stage) Resolve(v any) (any, error) {
	out, err := s.resolve(v)
	if _, ok := out.(noValue); ok {
		return nil, err
	}
	return out, err
}

func (s *Stage) resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if arg, ok := x["Fn::If"]; ok {
				args := list(arg)
				var name string
				if len(args) == 3 {
					name, _ = args[0].(string)
				}
				if name == "" {
					return nil, fmt.Errorf("Fn::If needs [condition, then, else], got %s", compact(arg))
				}
				c, err := s.Condition(name)
				if err != nil {
					return nil, err
				}
				if c {
					return s.resolve(args[1])
				}
				return s.resolve(args[2])
			}
			if name, ok := x["Ref"].(string); ok {
				if name == "AWS::NoValue" {
					return noValue{}, nil
				}
				if p, ok := s.params[name]; ok {
					return p, nil
				}
				return x, nil
			}
			if arg, ok := x["Fn::FindInMap"]; ok {
				return s.findInMap(arg)
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := s.resolve(e)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			r, err := s.resolve(e)
			if err != nil {
				return nil, err
			}
			if _, drop := r.(noValue); !drop {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

func (s *Stage) findInMap(arg any) (any, error) {
	args := list(arg)
	if len(args) != 3 {
		return nil, fmt.Errorf("Fn::FindInMap needs three keys, got %s", compact(arg))
	}
	var cur any = s.t.Section("Mappings")
	for _, a := range args {
		key, err := s.scalarValue(a)
		if err != nil {
			return nil, err
		}
		m, _ := cur.(map[string]any)
		if cur = m[key]; cur == nil {
			return nil, fmt.Errorf("Fn::FindInMap %s: no entry %s", compact(arg), key)
		}
	}
	return cur, nil
}

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
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

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
