package template

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMatchRoute(t *testing.T) {
	t.Parallel()
	routes := func(rs ...Route) *Template { return &Template{Routes: rs} }
	// The example from API Gateway's "Routing API requests" for HTTP APIs.
	pets := routes(
		Route{Function: "Dog1", Method: "GET", Path: "/pets/dog/1"},
		Route{Function: "DogID", Method: "GET", Path: "/pets/dog/{id}"},
		Route{Function: "PetsProxy", Method: "GET", Path: "/pets/{proxy+}"},
		Route{Function: "AnyProxy", Method: "ANY", Path: "/{proxy+}"},
		Route{Function: "Default", Method: "ANY", Path: DefaultRoute},
	)
	rich := parseFile(t, "rich.yaml", richLocals())

	tests := []struct {
		name         string
		tpl          *Template
		method, path string
		wantFunction string // "" when nothing matches
		wantMethod   string
		wantParams   map[string]string
	}{
		{"exact path beats a variable", pets, "GET", "/pets/dog/1", "Dog1", "GET", nil},
		{"variable beats greedy", pets, "GET", "/pets/dog/2", "DogID", "GET", map[string]string{"id": "2"}},
		{"longer literal prefix beats a shorter greedy", pets, "GET", "/pets/cat/1", "PetsProxy", "GET", map[string]string{"proxy": "cat/1"}},
		{"ANY takes other methods", pets, "POST", "/pets/cat/1", "AnyProxy", "ANY", map[string]string{"proxy": "pets/cat/1"}},
		{"method is case-insensitive", pets, "get", "/pets/dog/1", "Dog1", "GET", nil},
		{"$default takes what nothing else does", pets, "GET", "/", "Default", "ANY", nil},
		{"greedy needs at least one segment", routes(Route{Function: "P", Method: "ANY", Path: "/{proxy+}"}), "GET", "/", "", "", nil},
		{"no route", routes(Route{Function: "H", Method: "GET", Path: "/health"}), "GET", "/nope", "", "", nil},
		{"method must match", routes(Route{Function: "H", Method: "GET", Path: "/health"}), "POST", "/health", "", "", nil},
		{"trailing slash is another path", routes(Route{Function: "H", Method: "GET", Path: "/health"}), "GET", "/health/", "", "", nil},
		{"specific method beats ANY on the same path", routes(
			Route{Function: "Any", Method: "ANY", Path: "/jobs"},
			Route{Function: "Get", Method: "GET", Path: "/jobs"},
		), "GET", "/jobs", "Get", "GET", nil},
		{"path shape beats method", routes(
			Route{Function: "AnyID", Method: "ANY", Path: "/jobs/{id}"},
			Route{Function: "GetProxy", Method: "GET", Path: "/{proxy+}"},
		), "GET", "/jobs/7", "AnyID", "ANY", map[string]string{"id": "7"}},
		{"parameters are decoded", rich, "GET", "/jobs/a%20b", "ApiFunction", "GET", map[string]string{"id": "a b"}},
		{"greedy keeps an encoded slash inside one segment decoded", rich, "GET", "/jobs/7/files/dir/a%2Fb.txt", "ApiFunction", "GET",
			map[string]string{"id": "7", "path": "dir/a/b.txt"}},
		{"template: exact route", rich, "POST", "/jobs", "ApiFunction", "POST", nil},
		{"template: unmatched method falls to the proxy", rich, "DELETE", "/jobs", "ApiFunction", "ANY", map[string]string{"proxy": "jobs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, params, ok := tt.tpl.MatchRoute(tt.method, tt.path)
			if tt.wantFunction == "" {
				require.False(t, ok, "matched %+v", r)
				return
			}
			require.True(t, ok)
			require.Equal(t, tt.wantFunction, r.Function)
			require.Equal(t, tt.wantMethod, r.Method)
			require.Equal(t, tt.wantParams, params)
		})
	}
}

func TestCheckPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/jobs", true},
		{"/jobs/{id}", true},
		{"/{proxy+}", true},
		{"/jobs/{id}/files/{path+}", true},
		{"jobs", false},
		{"/jobs//x", false},
		{"/jobs/{}", false},
		{"/jobs/x{id}", false},
		{"/{proxy+}/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			err := checkPath(tt.path)
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}
