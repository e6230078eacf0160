package template

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Load reads the template at path and parses it as [Parse] does. It also
// checks that every function's Dir exists next to the template, reporting an
// [*Error] wrapping [ErrNoFolder] for each one missing.
func Load(path string, locals Locals) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	t, err := Parse(data, locals)
	if err != nil {
		return nil, fmt.Errorf("load template %s: %w", path, err)
	}
	base := filepath.Dir(path)
	var errs problems
	for _, id := range slices.Sorted(maps.Keys(t.Functions)) {
		dir := filepath.Join(base, filepath.FromSlash(t.Functions[id].Dir))
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			errs.add(id, ErrNoFolder, "%s (looked for %s)", t.Functions[id].Dir, dir)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("load template %s: %w", path, joinErrs(errs))
	}
	return t, nil
}

// Parse reads a SAM template (YAML or JSON) and resolves it against locals.
// It touches no files. On failure it reports every problem found, each an
// [*Error] naming the resource, event or parameter and wrapping one of the
// Err* sentinels: a parameter without a value ([ErrNoValue]), a Ref, GetAtt or
// ${} naming nothing ([ErrDangling]), an SQS event, S3 event or notification
// whose target is not in the template ([ErrNotInTemplate]), an invalid
// schedule ([ErrSchedule]), and so on.
func Parse(data []byte, locals Locals) (*Template, error) {
	locals = locals.withDefaults()
	expanded, err := expandYAML(data)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	var doc rawTemplate
	if err := json.Unmarshal(expanded, &doc); err != nil {
		return nil, fmt.Errorf("parse template: %w: %w", ErrInvalid, err)
	}
	p := &parser{doc: doc, locals: locals}
	t := p.run()
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("parse template: %w", joinErrs(p.errs))
	}
	return t, nil
}

// rawTemplate is the template with short-form tags expanded and nothing
// resolved.
type rawTemplate struct {
	Parameters map[string]parameterDecl
	Mappings   map[string]any
	Conditions map[string]any
	Globals    map[string]any
	Resources  map[string]map[string]any
	Outputs    map[string]any
}

type parameterDecl struct {
	Type           string
	Default        any
	AllowedValues  []any
	AllowedPattern *string
}

type parser struct {
	doc    rawTemplate
	locals Locals
	errs   problems
	r      *resolver

	params   map[string]string
	included []string                   // logical ids of resources whose Condition holds, sorted
	resolved map[string]json.RawMessage // by logical id
	globals  map[string]any             // Globals.Function, resolved

	queueByARN    map[string]string
	queueByURL    map[string]string
	bucketByName  map[string]string
	functionByARN map[string]string
}

func (p *parser) run() *Template {
	refs := p.parameters()
	if len(p.errs) > 0 {
		return nil // everything else would repeat the missing values
	}
	resources := p.index()
	p.r = newResolver(p.locals, refs, resources, p.doc.Mappings, p.doc.Conditions)
	p.resolveAll(resources)
	if len(p.errs) > 0 {
		return nil
	}
	p.targets(resources)

	t := &Template{
		Parameters: p.params,
		Functions:  map[string]*Function{},
		Queues:     map[string]*Queue{},
		Buckets:    map[string]*Bucket{},
	}
	for _, id := range p.included {
		switch typ := resources[id].Type; typ {
		case typeLambdaFunction, "AWS::Lambda::EventSourceMapping", "AWS::Events::Rule", "AWS::Scheduler::Schedule":
			p.errs.add(id, ErrUnsupported, "%s: declare functions and their triggers as AWS::Serverless::Function and its Events", typ)
		case typeQueue:
			if q := p.queue(id, resources[id].name); q != nil {
				t.Queues[id] = q
			}
		case typeBucket:
			if b := p.bucket(id, resources[id].name); b != nil {
				t.Buckets[id] = b
			}
		}
	}
	p.checkQueues(t)
	for _, id := range p.included {
		if resources[id].Type == typeFunction {
			if f := p.function(id, t); f != nil {
				t.Functions[id] = f
			}
		}
	}
	p.checkOverlaps(t)
	t.Routes = p.routes(t)
	return t
}

// parameters settles every parameter's value and returns what Ref yields
// for each.
func (p *parser) parameters() map[string]any {
	p.params = map[string]string{}
	refs := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(p.doc.Parameters)) {
		decl := p.doc.Parameters[name]
		where := "parameter " + name
		v, ok := p.locals.Parameters[name]
		if !ok && p.locals.ParameterLookup != nil {
			v, ok = p.locals.ParameterLookup(name)
		}
		if !ok {
			if decl.Default == nil {
				p.errs.add(where, ErrNoValue, "no Default, and Locals.Parameters does not set it (locally: set it in .env.local by its SCREAMING_SNAKE name)")
				continue
			}
			if v, ok = scalarString(decl.Default); !ok {
				p.errs.add(where, ErrParameter, "Default %s is not a string", compact(decl.Default))
				continue
			}
		}
		if len(decl.AllowedValues) > 0 && !slices.ContainsFunc(decl.AllowedValues, func(a any) bool {
			s, _ := scalarString(a)
			return s == v
		}) {
			p.errs.add(where, ErrParameter, "%q is not one of %s", v, compact(decl.AllowedValues))
			continue
		}
		if decl.AllowedPattern != nil {
			re, err := regexp.Compile(`^(?:` + *decl.AllowedPattern + `)$`)
			if err != nil {
				p.errs.add(where, ErrInvalid, "AllowedPattern: %v", err)
				continue
			}
			if !re.MatchString(v) {
				p.errs.add(where, ErrParameter, "%q does not match AllowedPattern %s", v, *decl.AllowedPattern)
				continue
			}
		}
		p.params[name] = v
		if decl.Type == "CommaDelimitedList" || strings.HasPrefix(decl.Type, "List<") {
			var list []any
			for _, s := range strings.Split(v, ",") {
				list = append(list, s)
			}
			refs[name] = list
		} else {
			refs[name] = v
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.locals.Parameters)) {
		if _, ok := p.doc.Parameters[name]; !ok {
			p.errs.add("parameter "+name, ErrParameter, "overridden in Locals.Parameters but not declared in the template")
		}
	}
	return refs
}

// index reads each resource's type, condition and, for queues and buckets,
// the physical name, which Ref and GetAtt need before anything is resolved.
func (p *parser) index() map[string]*resource {
	resources := map[string]*resource{}
	for id, raw := range p.doc.Resources {
		typ, _ := raw["Type"].(string)
		if typ == "" {
			p.errs.add(id, ErrInvalid, "no Type")
			continue
		}
		cond, _ := raw["Condition"].(string)
		res := &resource{Type: typ, Condition: cond}
		props, _ := raw["Properties"].(map[string]any)
		switch typ {
		case typeQueue:
			res.name = id
			if name, ok := props["QueueName"].(string); ok {
				res.name = name
			} else if fifo, _ := scalarString(props["FifoQueue"]); fifo == "true" {
				res.name = id + ".fifo"
			}
		case typeBucket:
			res.name = "redub-local-" + strings.ToLower(id)
			if name, ok := props["BucketName"].(string); ok {
				res.name = name
			}
		}
		resources[id] = res
	}
	return resources
}

// resolveAll decides which resources exist and resolves every intrinsic in
// them, in Globals and in Outputs.
func (p *parser) resolveAll(resources map[string]*resource) {
	p.resolved = map[string]json.RawMessage{}
	for _, id := range slices.Sorted(maps.Keys(resources)) {
		res := resources[id]
		if res.Condition != "" {
			ok, err := p.r.condition(res.Condition)
			if err != nil {
				p.errs.addErr(id, err)
				continue
			}
			if !ok {
				continue
			}
		}
		p.included = append(p.included, id)
		p.dependsOn(id, resources)
		out, errs := p.r.resolve(p.doc.Resources[id])
		for _, err := range errs {
			p.errs.addErr(id, err)
		}
		p.resolved[id] = out
	}
	for _, kind := range slices.Sorted(maps.Keys(p.doc.Globals)) {
		out, errs := p.r.resolve(p.doc.Globals[kind])
		for _, err := range errs {
			p.errs.addErr("Globals."+kind, err)
		}
		if kind == "Function" && len(errs) == 0 {
			if err := json.Unmarshal(out, &p.globals); err != nil {
				p.errs.add("Globals.Function", ErrInvalid, "%v", err)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.doc.Outputs)) {
		_, errs := p.r.resolve(p.doc.Outputs[name])
		for _, err := range errs {
			p.errs.addErr("Outputs."+name, err)
		}
	}
}

func (p *parser) dependsOn(id string, resources map[string]*resource) {
	var names []string
	switch v := p.doc.Resources[id]["DependsOn"].(type) {
	case string:
		names = []string{v}
	case []any:
		for _, n := range v {
			s, _ := n.(string)
			names = append(names, s)
		}
	}
	for _, n := range names {
		if resources[n] == nil {
			p.errs.add(id, ErrDangling, "DependsOn %s: no such resource", n)
		}
	}
}

// targets indexes what events and notifications may point at, by the value
// a reference to them resolves to.
func (p *parser) targets(resources map[string]*resource) {
	p.queueByARN = map[string]string{}
	p.queueByURL = map[string]string{}
	p.bucketByName = map[string]string{}
	p.functionByARN = map[string]string{}
	for _, id := range p.included {
		switch resources[id].Type {
		case typeQueue:
			arn, _ := p.r.getAtt(id, "Arn")
			p.queueByARN[arn] = id
			if url := p.locals.QueueURL(resources[id].name); url != "" {
				p.queueByURL[url] = id
			}
		case typeBucket:
			p.bucketByName[resources[id].name] = id
		case typeFunction:
			p.functionByARN[p.r.functionARN(id)] = id
		}
	}
}

// decode reads the resolved resource id into v.
func (p *parser) decode(id string, v any) bool {
	if err := json.Unmarshal(p.resolved[id], v); err != nil {
		p.errs.add(id, ErrInvalid, "%v", err)
		return false
	}
	return true
}

// functionByTarget finds a function by its ARN, with or without a qualifier
// (an alias or version) after the name.
func (p *parser) functionByTarget(arn string) (string, bool) {
	if id, ok := p.functionByARN[arn]; ok {
		return id, true
	}
	if i := strings.LastIndexByte(arn, ':'); i > 0 {
		id, ok := p.functionByARN[arn[:i]]
		return id, ok
	}
	return "", false
}

// queueTarget explains a queue reference that is not a queue ARN.
func (p *parser) queueTarget(v string) string {
	if id, ok := p.queueByURL[v]; ok {
		return fmt.Sprintf("%s is the URL of %s (Ref gives the URL; use !GetAtt %s.Arn)", v, id, id)
	}
	return fmt.Sprintf("%q is not the ARN of a queue in the template", v)
}

func joinErrs(errs []error) error {
	sorted := slices.Clone(errs)
	slices.SortStableFunc(sorted, func(a, b error) int {
		var ea, eb *Error
		if errors.As(a, &ea) && errors.As(b, &eb) {
			return cmp.Compare(ea.Where, eb.Where)
		}
		return 0
	})
	return errors.Join(sorted...)
}
