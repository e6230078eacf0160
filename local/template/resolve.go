package template

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/awslabs/goformation/v7/intrinsics"
)

// yamlMu serialises intrinsics.ProcessYAML, which registers its short-form
// tag resolvers in a package-level map on every call: two concurrent calls are
// a data race (and can crash with "concurrent map writes").
var yamlMu sync.Mutex

// expandYAML turns the template's YAML into JSON with short-form tags written
// out long (!Ref X becomes {"Ref": "X"}), intrinsics left unresolved.
func expandYAML(data []byte) ([]byte, error) {
	yamlMu.Lock()
	defer yamlMu.Unlock()
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, fmt.Errorf("read YAML: %w", err)
	}
	return out, nil
}

// resource is what resolution needs to know of one resource before any
// intrinsic is evaluated.
type resource struct {
	Type      string
	Condition string
	name      string // queues and buckets: the physical name
}

const (
	typeFunction       = "AWS::Serverless::Function"
	typeLambdaFunction = "AWS::Lambda::Function"
	typeQueue          = "AWS::SQS::Queue"
	typeBucket         = "AWS::S3::Bucket"
)

// resolver evaluates intrinsics against the local values. goformation's
// handlers cannot return errors, so they record them here; resolve collects
// them per fragment.
type resolver struct {
	locals     Locals
	params     map[string]any // string, or []any for list-typed parameters
	resources  map[string]*resource
	mappings   map[string]any
	conditions map[string]any
	condValue  map[string]bool
	condBusy   map[string]bool
	condErr    map[string]error
	errs       []error
	opts       *intrinsics.ProcessorOptions // for the template
	condOpts   *intrinsics.ProcessorOptions // for condition expressions: also resolves {"Condition": name}
	keep       bool                         // leave what does not differ between stages as written (see Evaluator)
}

func newResolver(locals Locals, params map[string]any, resources map[string]*resource, mappings, conditions map[string]any) *resolver {
	r := &resolver{
		locals:     locals,
		params:     params,
		resources:  resources,
		mappings:   mappings,
		conditions: conditions,
		condValue:  map[string]bool{},
		condBusy:   map[string]bool{},
		condErr:    map[string]error{},
	}
	handlers := map[string]intrinsics.IntrinsicHandler{
		"Ref":             r.hRef,
		"Fn::GetAtt":      r.hGetAtt,
		"Fn::Sub":         r.hSub,
		"Fn::Join":        r.hJoin,
		"Fn::Select":      r.hSelect,
		"Fn::Split":       r.hSplit,
		"Fn::FindInMap":   r.hFindInMap,
		"Fn::If":          r.hIf,
		"Fn::Equals":      r.hEquals,
		"Fn::And":         r.hAnd,
		"Fn::Or":          r.hOr,
		"Fn::Not":         r.hNot,
		"Fn::ImportValue": r.unsupported,
		"Fn::GetAZs":      r.hGetAZs,
		"Fn::Cidr":        r.unsupported,
		"Fn::Transform":   r.unsupported,
	}
	r.opts = &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: handlers}
	condHandlers := map[string]intrinsics.IntrinsicHandler{"Condition": r.hCondition}
	for k, v := range handlers {
		condHandlers[k] = v
	}
	r.condOpts = &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: condHandlers}
	return r
}

// keepAsWritten switches r to the Evaluator's mode: only Fn::If, Ref to a
// parameter or AWS::NoValue, and Fn::FindInMap are evaluated in resources;
// conditions are evaluated whole.
func (r *resolver) keepAsWritten() {
	r.keep = true
	handlers := map[string]intrinsics.IntrinsicHandler{}
	for name := range r.opts.IntrinsicHandlerOverrides {
		handlers[name] = asWritten
	}
	handlers["Ref"] = r.hRef
	handlers["Fn::FindInMap"] = r.hFindInMap
	handlers["Fn::If"] = r.hIf
	r.opts = &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: handlers}
}

// asWritten gives an intrinsic back unevaluated (its arguments evaluated).
func asWritten(name string, input, _ any) any { return map[string]any{name: input} }

// resolve evaluates every intrinsic in v and returns the result as JSON, or
// the errors met on the way.
func (r *resolver) resolve(v any) ([]byte, []error) {
	return r.process(v, r.opts)
}

func (r *resolver) process(v any, opts *intrinsics.ProcessorOptions) ([]byte, []error) {
	in, err := json.Marshal(v)
	if err != nil {
		return nil, []error{fmt.Errorf("%w: %w", ErrInvalid, err)}
	}
	saved := r.errs
	r.errs = nil
	out, err := intrinsics.ProcessJSON(in, opts)
	errs := r.errs
	r.errs = saved
	if err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalid, err))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func (r *resolver) fail(sentinel error, format string, args ...any) any {
	r.errs = append(r.errs, fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...))
	return nil
}

func (r *resolver) unsupported(name string, input, _ any) any {
	return r.fail(ErrUnsupported, "%s %s", name, compact(input))
}

// --- Ref and GetAtt ---------------------------------------------------------

func (r *resolver) hRef(_ string, input, _ any) any {
	name, ok := input.(string)
	if !ok {
		return r.fail(ErrInvalid, "Ref needs a name, got %s", compact(input))
	}
	if r.keep {
		if name == "AWS::NoValue" {
			return noValueMark
		}
		if v, ok := r.params[name]; ok {
			return v
		}
		return map[string]any{"Ref": name}
	}
	v, err := r.ref(name)
	if err != nil {
		r.errs = append(r.errs, err)
		return nil
	}
	return v
}

func (r *resolver) ref(name string) (any, error) {
	l := r.locals
	switch name {
	case "AWS::Region":
		return l.Region, nil
	case "AWS::AccountId":
		return l.AccountID, nil
	case "AWS::Partition":
		return l.partition(), nil
	case "AWS::StackName":
		return l.StackName, nil
	case "AWS::StackId":
		return fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-000000000000", l.partition(), l.Region, l.AccountID, l.StackName), nil
	case "AWS::URLSuffix":
		return l.urlSuffix(), nil
	case "AWS::NoValue":
		return nil, nil
	case "AWS::NotificationARNs":
		return []any{}, nil
	}
	if v, ok := r.params[name]; ok {
		return v, nil
	}
	if res, ok := r.resources[name]; ok {
		switch res.Type {
		case typeQueue:
			return l.QueueURL(res.name), nil
		case typeBucket:
			return res.name, nil
		}
		return name, nil
	}
	// SAM's implicit resources and references.
	if id, ok := strings.CutSuffix(name, ".Alias"); ok && r.isFunction(id) {
		return id, nil
	}
	if id, ok := strings.CutSuffix(name, ".Version"); ok && r.isFunction(id) {
		return id, nil
	}
	if r.implicit(name) {
		return name, nil
	}
	return nil, fmt.Errorf("%w: Ref %s names no parameter, resource or pseudo parameter", ErrDangling, name)
}

func (r *resolver) isFunction(id string) bool {
	res, ok := r.resources[id]
	return ok && (res.Type == typeFunction || res.Type == typeLambdaFunction)
}

// implicit reports whether id is a resource the SAM transform creates: the
// implicit HTTP and REST APIs and a function's execution role.
func (r *resolver) implicit(id string) bool {
	if id == "ServerlessHttpApi" || id == "ServerlessRestApi" {
		return true
	}
	fn, ok := strings.CutSuffix(id, "Role")
	return ok && r.resources[fn] != nil && r.resources[fn].Type == typeFunction
}

func (r *resolver) hGetAtt(_ string, input, _ any) any {
	var id, attr string
	switch v := input.(type) {
	case string: // !GetAtt X.Arn arrives unsplit
		id, attr, _ = strings.Cut(v, ".")
	case []any:
		if len(v) == 2 {
			id, _ = v[0].(string)
			attr, _ = v[1].(string)
		}
	}
	if id == "" || attr == "" {
		return r.fail(ErrInvalid, "Fn::GetAtt needs [resource, attribute], got %s", compact(input))
	}
	v, err := r.getAtt(id, attr)
	if err != nil {
		r.errs = append(r.errs, err)
		return nil
	}
	return v
}

func (r *resolver) getAtt(id, attr string) (string, error) {
	l := r.locals
	res, ok := r.resources[id]
	if !ok {
		if r.implicit(id) {
			if strings.HasSuffix(id, "Role") && attr == "Arn" {
				return fmt.Sprintf("arn:%s:iam::%s:role/%s", l.partition(), l.AccountID, id), nil
			}
			return id + "." + attr, nil
		}
		return "", fmt.Errorf("%w: GetAtt %s.%s: no resource %s", ErrDangling, id, attr, id)
	}
	switch res.Type {
	case typeQueue:
		switch attr {
		case "Arn":
			return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", l.partition(), l.Region, l.AccountID, res.name), nil
		case "QueueName":
			return res.name, nil
		case "QueueUrl":
			return l.QueueURL(res.name), nil
		}
	case typeBucket:
		switch attr {
		case "Arn":
			return fmt.Sprintf("arn:%s:s3:::%s", l.partition(), res.name), nil
		case "DomainName":
			return res.name + ".s3." + l.urlSuffix(), nil
		case "RegionalDomainName":
			return res.name + ".s3." + l.Region + "." + l.urlSuffix(), nil
		}
	case typeFunction, typeLambdaFunction:
		if attr == "Arn" {
			return r.functionARN(id), nil
		}
	default:
		return id + "." + attr, nil
	}
	return "", fmt.Errorf("%w: GetAtt %s.%s: attribute %s of a %s", ErrUnsupported, id, attr, attr, res.Type)
}

func (r *resolver) functionARN(id string) string {
	l := r.locals
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", l.partition(), l.Region, l.AccountID, id)
}

// --- Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::FindInMap -----------------

func (r *resolver) hSub(_ string, input, _ any) any {
	var src string
	var vars map[string]any
	switch v := input.(type) {
	case string:
		src = v
	case []any:
		if len(v) == 2 {
			src, _ = v[0].(string)
			vars, _ = v[1].(map[string]any)
		}
		if src == "" || vars == nil {
			return r.fail(ErrInvalid, "Fn::Sub needs a string or [string, {variables}], got %s", compact(input))
		}
	default:
		return r.fail(ErrInvalid, "Fn::Sub needs a string or [string, {variables}], got %s", compact(input))
	}
	out, err := r.sub(src, vars)
	if err != nil {
		r.errs = append(r.errs, err)
		return nil
	}
	return out
}

// sub substitutes ${Name}, ${Resource.Attribute} and ${!Literal} in src.
func (r *resolver) sub(src string, vars map[string]any) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(src, "${")
		if i < 0 {
			b.WriteString(src)
			return b.String(), nil
		}
		b.WriteString(src[:i])
		src = src[i+2:]
		j := strings.IndexByte(src, '}')
		if j < 0 {
			return "", fmt.Errorf("%w: Fn::Sub: unterminated ${ in %q", ErrInvalid, "${"+src)
		}
		name := src[:j]
		src = src[j+1:]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			b.WriteString("${" + lit + "}")
			continue
		}
		name = strings.TrimSpace(name)
		var v any
		var err error
		if val, ok := vars[name]; ok {
			v = val
		} else if id, attr, ok := strings.Cut(name, "."); ok && attr != "Alias" && attr != "Version" {
			v, err = r.getAtt(id, attr)
		} else {
			v, err = r.ref(name)
		}
		if err != nil {
			return "", err
		}
		s, ok := scalarString(v)
		if !ok {
			return "", fmt.Errorf("%w: Fn::Sub: ${%s} is %s, not a string", ErrInvalid, name, compact(v))
		}
		b.WriteString(s)
	}
}

func (r *resolver) hJoin(_ string, input, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 2 {
		return r.fail(ErrInvalid, "Fn::Join needs [delimiter, [values]], got %s", compact(input))
	}
	delim, ok1 := args[0].(string)
	list, ok2 := args[1].([]any)
	if !ok1 || !ok2 {
		return r.fail(ErrInvalid, "Fn::Join needs [delimiter, [values]], got %s", compact(input))
	}
	parts := make([]string, 0, len(list))
	for _, v := range list {
		if v == nil { // AWS::NoValue
			continue
		}
		s, ok := scalarString(v)
		if !ok {
			return r.fail(ErrInvalid, "Fn::Join: %s is not a string", compact(v))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, delim)
}

func (r *resolver) hSelect(_ string, input, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 2 {
		return r.fail(ErrInvalid, "Fn::Select needs [index, [values]], got %s", compact(input))
	}
	s, _ := scalarString(args[0])
	i, err := strconv.Atoi(s)
	list, ok := args[1].([]any)
	if err != nil || !ok {
		return r.fail(ErrInvalid, "Fn::Select needs [index, [values]], got %s", compact(input))
	}
	if i < 0 || i >= len(list) {
		return r.fail(ErrInvalid, "Fn::Select: index %d out of range for %d values", i, len(list))
	}
	return list[i]
}

func (r *resolver) hSplit(_ string, input, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 2 {
		return r.fail(ErrInvalid, "Fn::Split needs [delimiter, string], got %s", compact(input))
	}
	delim, ok1 := args[0].(string)
	s, ok2 := args[1].(string)
	if !ok1 || !ok2 || delim == "" {
		return r.fail(ErrInvalid, "Fn::Split needs [delimiter, string], got %s", compact(input))
	}
	var out []any
	for _, p := range strings.Split(s, delim) {
		out = append(out, p)
	}
	return out
}

func (r *resolver) hFindInMap(_ string, input, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 3 {
		return r.fail(ErrInvalid, "Fn::FindInMap needs [map, key, key], got %s", compact(input))
	}
	var v any = r.mappings
	path := make([]string, 0, 3)
	for _, a := range args {
		k, ok := scalarString(a)
		m, isMap := v.(map[string]any)
		if !ok || !isMap {
			return r.fail(ErrInvalid, "Fn::FindInMap %s", compact(input))
		}
		path = append(path, k)
		if v, ok = m[k]; !ok {
			return r.fail(ErrDangling, "Fn::FindInMap: no Mappings entry %s", strings.Join(path, "."))
		}
	}
	return v
}

// hGetAZs lists three made-up zones of the local region (a, b, c).
func (r *resolver) hGetAZs(_ string, _, _ any) any {
	region := r.locals.Region
	return []any{region + "a", region + "b", region + "c"}
}

// --- conditions -------------------------------------------------------------

func (r *resolver) hIf(_ string, input, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 3 {
		return r.fail(ErrInvalid, "Fn::If needs [condition, then, else], got %s", compact(input))
	}
	name, ok := args[0].(string)
	if !ok {
		return r.fail(ErrInvalid, "Fn::If needs a condition name, got %s", compact(args[0]))
	}
	v, err := r.condition(name)
	if err != nil {
		r.errs = append(r.errs, err)
		return nil
	}
	if v {
		return args[1]
	}
	return args[2]
}

// condition evaluates the named entry of the Conditions section.
func (r *resolver) condition(name string) (bool, error) {
	if v, ok := r.condValue[name]; ok {
		return v, nil
	}
	if err, ok := r.condErr[name]; ok {
		return false, err
	}
	expr, ok := r.conditions[name]
	if !ok {
		return false, fmt.Errorf("%w: condition %s is not in Conditions", ErrDangling, name)
	}
	if r.condBusy[name] {
		return false, fmt.Errorf("%w: condition %s refers to itself", ErrInvalid, name)
	}
	r.condBusy[name] = true
	v, err := r.evalCondition(name, expr)
	delete(r.condBusy, name)
	if err != nil {
		r.condErr[name] = err
		return false, err
	}
	r.condValue[name] = v
	return v, nil
}

func (r *resolver) evalCondition(name string, expr any) (bool, error) {
	out, errs := r.process(map[string]any{"v": expr}, r.condOpts)
	if len(errs) > 0 {
		return false, fmt.Errorf("condition %s: %w", name, joinErrs(errs))
	}
	var res struct{ V any }
	if err := json.Unmarshal(out, &res); err != nil {
		return false, fmt.Errorf("%w: condition %s: %w", ErrInvalid, name, err)
	}
	v, ok := res.V.(bool)
	if !ok {
		return false, fmt.Errorf("%w: condition %s is %s, not true or false", ErrInvalid, name, compact(res.V))
	}
	return v, nil
}

func (r *resolver) hCondition(_ string, input, _ any) any {
	name, ok := input.(string)
	if !ok {
		return r.fail(ErrInvalid, "Condition needs a name, got %s", compact(input))
	}
	v, err := r.condition(name)
	if err != nil {
		r.errs = append(r.errs, err)
		return nil
	}
	return v
}

// truth is the value of one operand of Fn::And, Fn::Or or Fn::Not: a value
// already evaluated, or a condition name (!Condition X arrives as "X", since
// goformation does not know that tag).
func (r *resolver) truth(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		b, err := r.condition(x)
		if err != nil {
			r.errs = append(r.errs, err)
			return false, false
		}
		return b, true
	}
	r.fail(ErrInvalid, "%s is not a condition", compact(v))
	return false, false
}

func (r *resolver) hEquals(_ string, input, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 2 {
		return r.fail(ErrInvalid, "Fn::Equals needs [a, b], got %s", compact(input))
	}
	a, okA := scalarString(args[0])
	b, okB := scalarString(args[1])
	if okA && okB {
		return a == b
	}
	return reflect.DeepEqual(args[0], args[1])
}

func (r *resolver) hAnd(_ string, input, _ any) any { return r.fold("Fn::And", input, true) }
func (r *resolver) hOr(_ string, input, _ any) any  { return r.fold("Fn::Or", input, false) }

// fold evaluates Fn::And (all true) or Fn::Or (any true).
func (r *resolver) fold(name string, input any, and bool) any {
	args, ok := input.([]any)
	if !ok || len(args) < 2 || len(args) > 10 {
		return r.fail(ErrInvalid, "%s needs 2 to 10 conditions, got %s", name, compact(input))
	}
	result := and
	for _, a := range args {
		v, ok := r.truth(a)
		if !ok {
			return nil
		}
		if and {
			result = result && v
		} else {
			result = result || v
		}
	}
	return result
}

func (r *resolver) hNot(_ string, input, _ any) any {
	args, ok := input.([]any)
	if !ok || len(args) != 1 {
		return r.fail(ErrInvalid, "Fn::Not needs [condition], got %s", compact(input))
	}
	v, ok := r.truth(args[0])
	if !ok {
		return nil
	}
	return !v
}

// --- values -----------------------------------------------------------------

// scalarString formats a string, number or boolean as CloudFormation does
// when it needs a string.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// compact renders v for an error message.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
