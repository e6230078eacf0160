package template

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// segment kinds, in the order API Gateway prefers them.
const (
	segGreedy  = iota // {proxy+}
	segParam          // {id}
	segLiteral        // jobs
)

// checkPath validates an HttpApi event's Path.
func checkPath(path string) error {
	if !strings.HasPrefix(path, "/") {
		return errors.New("does not start with /")
	}
	segs := splitPath(path)
	for i, s := range segs {
		kind, name := segmentKind(s)
		switch {
		case kind == segLiteral && strings.ContainsAny(s, "{}"):
			return errors.New("a path variable must be a whole segment, {name} or {name+}")
		case kind == segLiteral && s == "" && i < len(segs)-1:
			return errors.New("empty segment")
		case kind != segLiteral && name == "":
			return errors.New("a path variable has no name")
		case kind == segGreedy && i != len(segs)-1:
			return errors.New("a greedy variable {name+} must be the last segment")
		}
	}
	return nil
}

// splitPath splits "/a/b" into ["a", "b"]; "/" has no segments.
func splitPath(path string) []string {
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

func segmentKind(s string) (kind int, name string) {
	if inner, ok := strings.CutPrefix(s, "{"); ok {
		if inner, ok = strings.CutSuffix(inner, "}"); ok {
			if name, ok = strings.CutSuffix(inner, "+"); ok {
				return segGreedy, name
			}
			return segParam, inner
		}
	}
	return segLiteral, ""
}

// MatchRoute finds the route an API Gateway HTTP API would pick for a
// request, and the route's path parameters (nil when it has none). path is
// the request path as received, escaped or not: it is split on "/" and each
// segment decoded, so parameters arrive decoded as API Gateway delivers
// them.
//
// The most specific route wins, segment by segment from the left: a literal
// segment beats {param}, which beats {proxy+} (which must match at least one
// segment). Between routes of the same shape a route for the request's
// method beats ANY. The $default route, if any, takes what nothing else
// matches. ok is false when no route matches: API Gateway answers 404.
func (t *Template) MatchRoute(method, path string) (route Route, params map[string]string, ok bool) {
	method = strings.ToUpper(method)
	req := splitPath(path)
	for i, s := range req {
		if d, err := url.PathUnescape(s); err == nil {
			req[i] = d
		}
	}
	var best []int
	var fallback *Route
	for i := range t.Routes {
		r := &t.Routes[i]
		if r.Method != "ANY" && r.Method != method {
			continue
		}
		if r.Path == DefaultRoute {
			fallback = r
			continue
		}
		score, p, matched := matchPath(splitPath(r.Path), req)
		if !matched {
			continue
		}
		// The method ranks last: ANY loses only to a route of the same shape.
		score = append(score, boolInt(r.Method != "ANY"))
		if best == nil || slices.Compare(score, best) > 0 {
			best, route, params, ok = score, *r, p, true
		}
	}
	if !ok && fallback != nil {
		return *fallback, nil, true
	}
	return route, params, ok
}

// matchPath matches request segments against a route's, returning one
// score per route segment (its kind) for ranking.
func matchPath(route, req []string) (score []int, params map[string]string, ok bool) {
	for i, s := range route {
		kind, name := segmentKind(s)
		if kind == segGreedy {
			rest := strings.Join(req[min(i, len(req)):], "/")
			if rest == "" {
				return nil, nil, false
			}
			return append(score, kind), withParam(params, name, rest), true
		}
		if i >= len(req) {
			return nil, nil, false
		}
		switch {
		case kind == segParam && req[i] != "":
			params = withParam(params, name, req[i])
		case kind == segLiteral && req[i] == s:
		default:
			return nil, nil, false
		}
		score = append(score, kind)
	}
	if len(req) != len(route) {
		return nil, nil, false
	}
	return score, params, true
}

func withParam(params map[string]string, name, value string) map[string]string {
	if params == nil {
		params = map[string]string{}
	}
	params[name] = value
	return params
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
