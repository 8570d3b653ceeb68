package api

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// specDoc is the part of openapi.json the drift test reads.
type specDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]specOperation   `json:"paths"`
	Comps   map[string]map[string]json.RawMessage `json:"components"`
}

type specOperation struct {
	OperationID string                     `json:"operationId"`
	Scope       string                     `json:"x-hookd-scope"`
	Planned     bool                       `json:"x-hookd-planned"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

var accessNames = map[access]string{public: "public", read: "read", write: "write", admin: "admin", operator: "operator", triggerToken: "trigger-token"}

func loadSpec(t *testing.T) specDoc {
	t.Helper()
	var d specDoc
	if err := json.Unmarshal(openAPISpec, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if d.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", d.OpenAPI)
	}
	return d
}

// TestOpenAPIMatchesRoutes fails when a route of the table is missing from
// openapi.json, when the spec has a served operation the table lacks, when
// their scopes differ, or when an operation marked x-hookd-planned is
// served (remove the marker when adding the route).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	spec := map[string]specOperation{}
	for path, ops := range d.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			spec[strings.ToUpper(method)+" "+path] = op
		}
	}
	table := map[string]route{}
	for _, rt := range tableRoutes(t) {
		table[rt.pattern] = rt
		op, ok := spec[rt.pattern]
		switch {
		case !ok:
			t.Errorf("route %q is not in openapi.json", rt.pattern)
		case op.Planned:
			t.Errorf("route %q is served but marked x-hookd-planned in openapi.json", rt.pattern)
		case op.Scope != accessNames[rt.access]:
			t.Errorf("route %q: x-hookd-scope %q, table says %q", rt.pattern, op.Scope, accessNames[rt.access])
		}
	}
	var planned []string
	for p, op := range spec {
		if op.Planned {
			planned = append(planned, p)
			continue
		}
		if _, ok := table[p]; !ok {
			t.Errorf("openapi.json has %q, which the route table does not serve", p)
		}
	}
	sort.Strings(planned)
	t.Logf("planned, not served yet: %v", planned)
}

// TestOpenAPIWellFormed: operation ids are unique, every $ref resolves, and
// every operation documents a success and the 500 answer.
func TestOpenAPIWellFormed(t *testing.T) {
	t.Parallel()
	d := loadSpec(t)
	ids := map[string]string{}
	for path, ops := range d.Paths {
		for method, op := range ops {
			where := strings.ToUpper(method) + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("%s: operationId %q also used by %s", where, op.OperationID, prev)
			}
			ids[op.OperationID] = where
			if op.Scope == "" {
				t.Errorf("%s: no x-hookd-scope", where)
			}
			ok := false
			for code := range op.Responses {
				ok = ok || strings.HasPrefix(code, "2")
			}
			if !ok || op.Responses["500"] == nil {
				t.Errorf("%s: responses %v lack a 2xx or the 500", where, keys(op.Responses))
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(r, "#/components/"), "/")
				if len(parts) != 2 || d.Comps[parts[0]][parts[1]] == nil {
					t.Errorf("$ref %q does not resolve", r)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var all any
	if err := json.Unmarshal(openAPISpec, &all); err != nil {
		t.Fatal(err)
	}
	walk(all)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
