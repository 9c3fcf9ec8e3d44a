package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openAPIOps are the operations of the stored document, as "METHOD /path".
func openAPIOps(t *testing.T) (map[string]map[string]any, map[string]any) {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(openAPIDoc, &doc), "openapi.json is not JSON")
	paths, ok := doc["paths"].(map[string]any)
	require.True(t, ok, "openapi.json has no paths object")
	ops := map[string]map[string]any{}
	for path, item := range paths {
		for method, o := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
			default:
				continue // parameters, summary, ... of the path item
			}
			ops[strings.ToUpper(method)+" "+path], _ = o.(map[string]any)
		}
	}
	return ops, doc
}

var wildcardRe = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// patternOp turns a ServeMux pattern into the document's "METHOD /path":
// "{$}" (exact match of a trailing slash) is dropped and "{name...}" becomes
// "{name}". A pattern without a method matches every method: "ANY /path".
func patternOp(p string) string {
	method, path, ok := strings.Cut(p, " ")
	if !ok {
		method, path = "ANY", p
	}
	path = strings.ReplaceAll(path, "{$}", "")
	path = wildcardRe.ReplaceAllString(path, "{$1}")
	return method + " " + path
}

// TestOpenAPICoversRoutes compares the routes the server registers (recorded by
// s.handle) with the stored document, both ways. When it fails, add to (or
// remove from) gateway/internal/api/openapi.json exactly the operations listed.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t)
	srv, ok := e.h.(*server)
	require.True(t, ok)
	require.NotEmpty(t, srv.patterns)
	ops, _ := openAPIOps(t)

	registered := map[string]string{}
	for _, p := range srv.patterns {
		registered[patternOp(p)] = p
	}
	var missing, stale []string
	for op, p := range registered {
		if _, ok := ops[op]; !ok {
			missing = append(missing, fmt.Sprintf("%s (pattern %q)", op, p))
		}
	}
	for op := range ops {
		if _, ok := registered[op]; !ok {
			stale = append(stale, op)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	require.Emptyf(t, missing, "routes registered but not in openapi.json (add them under paths):\n  %s", strings.Join(missing, "\n  "))
	require.Emptyf(t, stale, "operations in openapi.json that no route serves (remove or register them):\n  %s", strings.Join(stale, "\n  "))
}

// TestOpenAPIDocumentSound checks what a client generator relies on: version,
// a response per operation, every path parameter declared, every $ref
// resolvable, and error responses using the spec's error shape.
func TestOpenAPIDocumentSound(t *testing.T) {
	ops, doc := openAPIOps(t)
	require.Regexp(t, `^3\.`, doc["openapi"])
	comps, _ := doc["components"].(map[string]any)
	require.NotNil(t, comps)

	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	for _, r := range refs {
		parts := strings.Split(strings.TrimPrefix(r, "#/components/"), "/")
		require.Lenf(t, parts, 2, "ref %s", r)
		kind, _ := comps[parts[0]].(map[string]any)
		require.Containsf(t, kind, parts[1], "unresolved $ref %s", r)
	}

	for name, o := range ops {
		t.Run(name, func(t *testing.T) {
			require.NotNil(t, o, "operation is not an object")
			require.NotEmpty(t, o["summary"], "summary")
			resps, _ := o["responses"].(map[string]any)
			require.NotEmpty(t, resps, "responses")
			for code := range resps {
				require.Regexp(t, `^[1-5][0-9][0-9]$`, code)
			}
			declared := map[string]bool{}
			params, _ := o["parameters"].([]any)
			for _, p := range params {
				pm := p.(map[string]any)
				if pm["in"] == "path" {
					declared[pm["name"].(string)] = true
					require.Equal(t, true, pm["required"], "path parameter %v must be required", pm["name"])
				}
			}
			_, path, _ := strings.Cut(name, " ")
			for _, m := range wildcardRe.FindAllStringSubmatch(path, -1) {
				require.Truef(t, declared[m[1]], "path parameter {%s} not declared", m[1])
				delete(declared, m[1])
			}
			require.Empty(t, declared, "declared path parameters not in the path")
			// Authenticated operations document their 401.
			if sec, ok := o["security"].([]any); !ok || len(sec) > 0 {
				require.Contains(t, resps, "401", "authenticated operation without 401")
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, openAPIDoc, r.Raw, "served bytes are the stored document")
	requireError(t, e.do(http.MethodPost, "/openapi.json", "", nil), http.StatusMethodNotAllowed, SubMethod)
}

func TestPatternOp(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"GET /v2/me", "GET /v2/me"},
		{"POST /auth/{$}", "POST /auth/"},
		{"GET /v2/vending_machines/{id}/request/{rid}", "GET /v2/vending_machines/{id}/request/{rid}"},
		{"GET /files/{path...}", "GET /files/{path}"},
		{"/static/", "ANY /static/"},
	} {
		t.Run(c.in, func(t *testing.T) { require.Equal(t, c.want, patternOp(c.in)) })
	}
}
