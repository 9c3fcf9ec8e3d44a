package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
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

// TestOpenAPINoStubs: every operation is a real entry, not a generated stub.
func TestOpenAPINoStubs(t *testing.T) {
	ops, _ := openAPIOps(t)
	var stubs []string
	for name, o := range ops {
		if _, ok := o["x-vendgate-todo"]; ok {
			stubs = append(stubs, name)
		}
	}
	slices.Sort(stubs)
	require.Emptyf(t, stubs, "operations still marked x-vendgate-todo:\n  %s", strings.Join(stubs, "\n  "))
}

// openAPIResponseSchema returns the documented schema of the response status
// of the operation serving pattern (nil when it documents none).
func openAPIResponseSchema(t *testing.T, pattern string, status int) (schema any, doc map[string]any) {
	t.Helper()
	ops, doc := openAPIOps(t)
	o := ops[patternOp(pattern)]
	require.NotNilf(t, o, "%s is not documented", pattern)
	resps, _ := o["responses"].(map[string]any)
	resp, ok := resps[strconv.Itoa(status)].(map[string]any)
	require.Truef(t, ok, "%s: status %d is not documented", pattern, status)
	resp = resolveRef(doc, resp)
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	return media["schema"], doc
}

// resolveRef follows a local $ref.
func resolveRef(doc map[string]any, m map[string]any) map[string]any {
	for {
		r, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		m = cur.(map[string]any)
	}
}

// schemaDiff checks a decoded JSON value against the subset of JSON Schema
// openapi.json uses (type, properties, required, items, enum, const, oneOf,
// $ref). Objects with properties must not carry fields the schema lacks: the
// document lists every field the handlers write.
func schemaDiff(doc map[string]any, schema any, v any, path string) []string {
	s, ok := schema.(map[string]any)
	if !ok || len(s) == 0 {
		return nil // {}: anything
	}
	s = resolveRef(doc, s)
	if alts, ok := s["oneOf"].([]any); ok {
		for _, alt := range alts {
			if len(schemaDiff(doc, alt, v, path)) == 0 {
				return nil
			}
		}
		return []string{fmt.Sprintf("%s: %v matches no alternative", orRoot(path), v)}
	}
	var diffs []string
	if ts := schemaTypes(s["type"]); len(ts) > 0 {
		jt := jsonType(v)
		match := false
		for _, typ := range ts {
			switch {
			case typ == jt, typ == "boolean" && jt == "bool", typ == "number" && jt == "number":
				match = true
			case typ == "integer" && jt == "number":
				_, err := v.(json.Number).Int64()
				match = match || err == nil
			}
		}
		if !match {
			return []string{fmt.Sprintf("%s: %s (%v), documented %v", orRoot(path), jt, v, ts)}
		}
	}
	if enum, ok := s["enum"].([]any); ok && v != nil {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			diffs = append(diffs, fmt.Sprintf("%s: %v not in the documented enum %v", orRoot(path), v, enum))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := x[r.(string)]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: required but missing", join(path, r.(string))))
			}
		}
		for k, val := range x {
			ps, ok := props[k]
			if !ok {
				if props != nil && s["additionalProperties"] == nil {
					diffs = append(diffs, fmt.Sprintf("%s: not documented", join(path, k)))
				}
				if ap, ok := s["additionalProperties"].(map[string]any); ok {
					diffs = append(diffs, schemaDiff(doc, ap, val, join(path, k))...)
				}
				continue
			}
			diffs = append(diffs, schemaDiff(doc, ps, val, join(path, k))...)
		}
	case []any:
		for _, it := range x {
			diffs = append(diffs, schemaDiff(doc, s["items"], it, path+"[]")...)
		}
	}
	slices.Sort(diffs)
	return slices.Compact(diffs)
}

func schemaTypes(t any) []string {
	switch x := t.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, v := range x {
			out = append(out, v.(string))
		}
		return out
	}
	return nil
}

func TestSchemaDiff(t *testing.T) {
	doc := map[string]any{"components": map[string]any{"schemas": map[string]any{
		"X": map[string]any{"type": "object", "required": []any{"id"}, "properties": map[string]any{
			"id": map[string]any{"type": "integer"}, "n": map[string]any{"type": []any{"string", "null"}},
			"e": map[string]any{"type": "integer", "enum": []any{1.0, 2.0}}}},
	}}}
	ref := map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/X"}}
	ok := []any{map[string]any{"id": json.Number("1"), "n": nil, "e": json.Number("2")}}
	require.Empty(t, schemaDiff(doc, ref, ok, ""))
	bad := []any{map[string]any{"id": json.Number("1.5"), "n": json.Number("3"), "e": json.Number("3"), "z": true}, map[string]any{}}
	require.Equal(t, []string{"[].e: 3 not in the documented enum [1 2]", "[].id: number (1.5), documented [integer]",
		"[].id: required but missing", "[].n: number (3), documented [string null]", "[].z: not documented"}, schemaDiff(doc, ref, bad, ""))
}
