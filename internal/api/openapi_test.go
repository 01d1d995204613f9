package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flowwatch/flowwatch/internal/api/apitest"
	"github.com/flowwatch/flowwatch/internal/rollup"
)

// loadOpenAPI fetches the served document and checks it is the embedded
// one and parses.
func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	srv, _ := fixtureServer(t)
	res := do(t, http.MethodGet, srv.URL+"/api/v1/openapi.json")
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	checkJSONHeaders(t, res.header)
	if !bytes.Equal(res.body, openAPIDoc) {
		t.Error("served document differs from the embedded file")
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(res.body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	return doc
}

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

// TestOpenAPIRoutes checks that the document describes exactly the routes
// registered with their methods, and exactly the query parameters the
// endpoints accept.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	paths := obj(doc["paths"])
	var documented, registered []string
	for p := range paths {
		documented = append(documented, p)
	}
	for _, rt := range New(Options{}, nil).routes() {
		registered = append(registered, rt.pattern)
		var methods []string
		for _, m := range rt.methods {
			methods = append(methods, strings.ToLower(m.name))
		}
		sort.Strings(methods)
		if ops := obj(paths[rt.pattern]); ops != nil {
			if diff := cmp.Diff(methods, keys(ops)); diff != "" {
				t.Errorf("path %s: operations (-registered +documented):\n%s", rt.pattern, diff)
			}
		}
	}
	sort.Strings(documented)
	sort.Strings(registered)
	if diff := cmp.Diff(registered, documented); diff != "" {
		t.Errorf("documented paths vs registered routes (-registered +documented):\n%s", diff)
	}

	params := func(path string) (names []string, in []string) {
		return opParams(t, doc, path, "get")
	}
	names, in := params("/api/v1/traces")
	if diff := cmp.Diff(traceListParams(), names); diff != "" {
		t.Errorf("documented list parameters (-accepted +documented):\n%s", diff)
	}
	for i, where := range in {
		if where != "query" {
			t.Errorf("parameter %s is in %s, want query", names[i], where)
		}
	}
	for _, path := range []string{"/api/v1/metrics/operational", "/api/v1/metrics/llm"} {
		names, in := params(path)
		if diff := cmp.Diff(metricsParams(), names); diff != "" {
			t.Errorf("documented %s parameters (-accepted +documented):\n%s", path, diff)
		}
		for i, where := range in {
			if where != "query" {
				t.Errorf("%s: parameter %s is in %s, want query", path, names[i], where)
			}
		}
	}
	// The group_by values documented are the ones accepted.
	groupBy, _ := resolve(doc, "#/components/parameters/MetricsGroupBy")
	var documentedGroups []string
	for _, v := range obj(groupBy["schema"])["enum"].([]any) {
		documentedGroups = append(documentedGroups, v.(string))
	}
	if diff := cmp.Diff(rollup.GroupBy, documentedGroups); diff != "" {
		t.Errorf("documented group_by values (-accepted +documented):\n%s", diff)
	}
	names, in = params("/api/v1/traces/{trace_id}")
	if diff := cmp.Diff([]string{"trace_id"}, names); diff != "" || in[0] != "path" {
		t.Errorf("trace parameters: %v in %v", names, in)
	}
	// The limit bounds documented are the ones enforced.
	for _, p := range obj(obj(paths["/api/v1/traces"])["get"])["parameters"].([]any) {
		if obj(p)["name"] == "limit" {
			s := obj(obj(p)["schema"])
			if fmt.Sprint(s["maximum"]) != "1000" || fmt.Sprint(s["default"]) != "50" {
				t.Errorf("limit schema %v disagrees with store.MaxLimit/DefaultLimit", s)
			}
		}
	}
	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, err := resolve(doc, ref); err != nil {
					t.Error(err)
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
	walk(doc)
}

// opParams returns the names of the parameters of an operation and where
// each is (query, path, header), resolving references.
func opParams(t *testing.T, doc map[string]any, path, method string) (names []string, in []string) {
	t.Helper()
	list, _ := obj(obj(obj(doc["paths"])[path])[method])["parameters"].([]any)
	for _, p := range list {
		param := obj(p)
		if ref, ok := param["$ref"].(string); ok {
			resolved, err := resolve(doc, ref)
			if err != nil {
				t.Fatal(err)
			}
			param = resolved
		}
		names = append(names, param["name"].(string))
		in = append(in, param["in"].(string))
	}
	return names, in
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIResponses validates real response bodies (the golden cases and
// errors of each kind) against the schemas the document gives them: every
// field sent is documented, every required field is sent, with the
// documented type.
func TestOpenAPIResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	srv, _ := fixtureServer(t)
	type check struct{ name, path, docPath string }
	var checks []check
	for _, c := range okCases() {
		docPath := strings.SplitN(c.path, "?", 2)[0]
		if strings.HasPrefix(docPath, "/api/v1/traces/") {
			docPath = "/api/v1/traces/{trace_id}"
		}
		checks = append(checks, check{c.name, c.path, docPath})
	}
	checks = append(checks,
		check{"bad limit", "/api/v1/traces?limit=x", "/api/v1/traces"},
		check{"unknown trace", "/api/v1/traces/0123456789abcdef0123456789abcdef", "/api/v1/traces/{trace_id}"},
		check{"bad trace id", "/api/v1/traces/x", "/api/v1/traces/{trace_id}"},
		check{"services param", "/api/v1/services?x=1", "/api/v1/services"},
		check{"bad step", "/api/v1/metrics/operational?step=0", "/api/v1/metrics/operational"},
		check{"bad group_by", "/api/v1/metrics/llm?group_by=x", "/api/v1/metrics/llm"},
	)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			res := do(t, http.MethodGet, srv.URL+c.path)
			responses := obj(obj(obj(obj(doc["paths"])[c.docPath])["get"])["responses"])
			r := obj(responses[fmt.Sprint(res.status)])
			if r == nil {
				t.Fatalf("status %d of %s is not documented", res.status, c.docPath)
			}
			if ref, ok := r["$ref"].(string); ok {
				resolved, err := resolve(doc, ref)
				if err != nil {
					t.Fatal(err)
				}
				r = resolved
			}
			schema := obj(obj(obj(r["content"])["application/json"])["schema"])
			var body any
			dec := json.NewDecoder(bytes.NewReader(res.body))
			dec.UseNumber()
			if err := dec.Decode(&body); err != nil {
				t.Fatal(err)
			}
			v := validator{doc: doc}
			v.check("$", schema, body, true)
			for _, p := range v.problems {
				t.Error(p)
			}
		})
	}
	// And a 405, documented by reference on every operation.
	res := do(t, http.MethodPost, srv.URL+"/api/v1/traces")
	errSchema, _ := resolve(doc, "#/components/schemas/Error")
	var body any
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Fatal(err)
	}
	v := validator{doc: doc}
	v.check("$", errSchema, body, true)
	for _, p := range v.problems {
		t.Error(p)
	}
}

func resolve(doc map[string]any, ref string) (map[string]any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		cur = obj(cur)[part]
	}
	m := obj(cur)
	if m == nil {
		return nil, fmt.Errorf("$ref %q does not resolve", ref)
	}
	return m, nil
}

// validator checks a JSON value against the subset of JSON Schema the
// document uses: $ref, allOf, type, enum, pattern, format date-time,
// minimum, maximum, required, properties, additionalProperties, items. It
// is stricter than JSON Schema in one way on purpose: an object property
// that the schema does not declare is a problem unless additionalProperties
// allows it, so that nothing the API sends goes undocumented.
type validator struct {
	doc      map[string]any
	problems []string
}

func (v *validator) fail(at, format string, args ...any) {
	v.problems = append(v.problems, at+": "+fmt.Sprintf(format, args...))
}

func (v *validator) check(at string, schema map[string]any, val any, strict bool) {
	if ref, ok := schema["$ref"].(string); ok {
		resolved, err := resolve(v.doc, ref)
		if err != nil {
			v.fail(at, "%v", err)
			return
		}
		schema = resolved
	}
	if all, ok := schema["allOf"].([]any); ok {
		declared := map[string]bool{}
		for _, s := range all {
			sub := obj(s)
			if ref, ok := sub["$ref"].(string); ok {
				sub, _ = resolve(v.doc, ref)
			}
			for k := range obj(sub["properties"]) {
				declared[k] = true
			}
			v.check(at, sub, val, false)
		}
		if m, ok := val.(map[string]any); ok && strict {
			for k := range m {
				if !declared[k] {
					v.fail(at, "property %q is not documented", k)
				}
			}
		}
		return
	}
	if t, ok := schema["type"]; ok && !v.typeOK(t, val) {
		v.fail(at, "value %v (%T) is not of type %v", val, val, t)
		return
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, val) {
		v.fail(at, "value %v is not one of %v", val, enum)
	}
	if s, ok := val.(string); ok {
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			v.fail(at, "%q does not match %s", s, p)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") {
				v.fail(at, "%q is not an RFC 3339 UTC time", s)
			}
		}
	}
	if n, ok := val.(json.Number); ok {
		f, _ := n.Float64()
		if m, ok := schema["minimum"].(json.Number); ok {
			if min, _ := m.Float64(); f < min {
				v.fail(at, "%v below minimum %v", f, min)
			}
		}
	}
	switch x := val.(type) {
	case map[string]any:
		props := obj(schema["properties"])
		if req, ok := schema["required"].([]any); ok {
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					v.fail(at, "required property %q missing", r)
				}
			}
		}
		for k, e := range x {
			if ps, ok := props[k]; ok {
				v.check(at+"."+k, obj(ps), e, true)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					v.fail(at, "property %q not allowed", k)
				}
			case map[string]any:
				v.check(at+"."+k, ap, e, true)
			default:
				if strict && props != nil {
					v.fail(at, "property %q is not documented", k)
				}
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, e := range x {
				v.check(fmt.Sprintf("%s[%d]", at, i), items, e, true)
			}
		}
	}
}

func (v *validator) typeOK(t any, val any) bool {
	var types []string
	switch x := t.(type) {
	case string:
		types = []string{x}
	case []any:
		for _, e := range x {
			types = append(types, e.(string))
		}
	}
	for _, typ := range types {
		switch typ {
		case "object":
			if _, ok := val.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := val.([]any); ok {
				return true
			}
		case "string":
			if _, ok := val.(string); ok {
				return true
			}
		case "boolean":
			if _, ok := val.(bool); ok {
				return true
			}
		case "null":
			if val == nil {
				return true
			}
		case "number":
			if _, ok := val.(json.Number); ok {
				return true
			}
		case "integer":
			if n, ok := val.(json.Number); ok {
				if f, err := n.Float64(); err == nil && f == math.Trunc(f) && !strings.ContainsAny(string(n), ".eE") {
					return true
				}
			}
		}
	}
	return false
}

// TestValidatorCatches makes sure the validator is not vacuous: a body
// with an undocumented field, a missing field and a wrong type fails.
func TestValidatorCatches(t *testing.T) {
	doc := loadOpenAPI(t)
	schema, _ := resolve(doc, "#/components/schemas/TraceList")
	var body any
	dec := json.NewDecoder(strings.NewReader(`{"traces":[{"trace_id":"` + apitest.RAGTraceID + `","surprise":1,"span_count":"3"}]}`))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Fatal(err)
	}
	v := validator{doc: doc}
	v.check("$", schema, body, true)
	joined := strings.Join(v.problems, "\n")
	for _, want := range []string{`required property "next_cursor" missing`, `property "surprise" is not documented`, `is not of type integer`, `required property "service" missing`} {
		if !strings.Contains(joined, want) {
			t.Errorf("validator did not report %q; reported:\n%s", want, joined)
		}
	}
}
