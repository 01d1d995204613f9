package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/flowwatch/flowwatch/internal/didyoumean"
)

// This file reads a config file the way monitor files are read: every
// problem at once, each with the file, line and column it came from, and a
// "did you mean" for a mistyped key.

// Position is a place in a config file, 1-based.
type Position struct {
	Line, Column int
}

// Source says where the keys of a config read by Load were written, so
// that Validate can name the file, line and column of a problem.
type Source struct {
	// File is the path given to Load.
	File string
	// Keys maps a key path as messages write it ("smtp.tls",
	// "judges.local.model", "pricing[1]") to where the key is.
	Keys map[string]Position
}

// Problem is one thing wrong in a config file.
type Problem struct {
	File string
	Position
	Message string
	syntax  bool // the file is not YAML: nothing else was checked
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", p.Line, p.Column)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// maxProblems bounds how many problems one file reports.
const maxProblems = 50

// scan walks the YAML of a config file against the shape of Config: it
// records where every key is, reports unknown keys (with the closest known
// one) and values of the wrong type, and decodes what it can into cfg.
type scan struct {
	file     string
	keys     map[string]Position
	problems []Problem
}

func (s *scan) fail(p Position, format string, args ...any) {
	// A key or value may be a webhook URL, itself a secret: cut URLs to
	// scheme and host, as everywhere in messages about the config.
	msg := RedactURLs(fmt.Sprintf(format, args...))
	s.problems = append(s.problems, Problem{File: s.file, Position: p, Message: msg})
}

func posOf(n ast.Node) Position {
	if n == nil {
		return Position{}
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return Position{Line: tk.Position.Line, Column: tk.Position.Column}
	}
	return Position{}
}

// parseSource parses b and scans it into cfg. The problems are sorted by
// position; a syntax error is the only problem reported when there is one.
func parseSource(file string, b []byte, cfg *Config) (src *Source, problems []Problem) {
	src = &Source{File: file, Keys: map[string]Position{}}
	if len(bytes.TrimSpace(b)) == 0 {
		return src, nil
	}
	defer func() { // the YAML library has panicked on odd input: never crash on a file
		if r := recover(); r != nil {
			problems = append(problems, Problem{File: file, Message: fmt.Sprintf("the YAML parser failed on this file (%v); check its syntax", r), syntax: true})
		}
	}()
	f, err := parser.ParseBytes(b, 0)
	if err != nil {
		p := Problem{File: file, Message: "invalid YAML: " + err.Error(), syntax: true}
		var ye yaml.Error
		if errors.As(err, &ye) {
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				p.Position = Position{tk.Position.Line, tk.Position.Column}
			}
			p.Message = "invalid YAML: " + ye.GetMessage()
		}
		return src, []Problem{p}
	}
	s := &scan{file: file, keys: src.Keys}
	for i, doc := range f.Docs {
		if i > 0 {
			s.fail(posOf(doc), "a config file holds one YAML document; remove the second one")
			break
		}
		if doc.Body == nil {
			continue
		}
		s.value(doc.Body, reflect.ValueOf(cfg).Elem(), "")
	}
	if len(s.problems) > maxProblems {
		s.problems = append(s.problems[:maxProblems], Problem{File: file, Message: "and more problems not shown"})
	}
	return src, s.problems
}

var (
	bytesUnmarshaler = reflect.TypeFor[yaml.BytesUnmarshaler]()
	durationType     = reflect.TypeFor[Duration]()
)

// unwrap skips tags, anchors and comments around a value.
func unwrap(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		case *ast.CommentGroupNode:
			return nil
		default:
			return n
		}
	}
}

// entries lists the key/value pairs of a mapping node; ok is false when n
// is not a mapping.
func entries(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	}
	return nil, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// value scans node n into v, the field at path.
func (s *scan) value(n ast.Node, v reflect.Value, path string) {
	n = unwrap(n)
	if n == nil || n.Type() == ast.NullType {
		return
	}
	if n.Type() == ast.AliasType {
		// An alias repeats a value written elsewhere; decode it whole.
		s.leaf(n, v, path)
		return
	}
	t := v.Type()
	if reflect.PointerTo(t).Implements(bytesUnmarshaler) {
		s.leaf(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() != reflect.Struct {
			// A pointer to a scalar (a switch whose default is true)
			// tells a key left out from one written.
			s.leaf(n, v, path)
			return
		}
		if _, ok := entries(n); !ok {
			s.fail(posOf(n), "%s must be a mapping of keys, not %s", path, describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		s.value(n, v.Elem(), path)
	case reflect.Struct:
		s.object(n, v, path)
	case reflect.Map:
		list, ok := entries(n)
		if !ok {
			s.fail(posOf(n), "%s must be a mapping of names to settings, not %s", path, describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		for _, e := range list {
			key := e.Key.String()
			if e.Key.IsMergeKey() {
				s.fail(posOf(e.Key), "merge keys (<<) are not supported in a config file; write the settings out")
				continue
			}
			kp := join(path, key)
			s.keys[kp] = posOf(e.Key)
			elem := reflect.New(t.Elem()).Elem()
			s.value(e.Value, elem, kp)
			v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), elem)
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			if t.Elem().Kind() == reflect.String {
				// A single string stands for a list of one, as in the
				// YAML decoder.
				s.leaf(n, v, path)
				return
			}
			s.fail(posOf(n), "%s must be a list (items starting with \"- \"), not %s", path, describe(n))
			return
		}
		out := reflect.MakeSlice(t, len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			ip := fmt.Sprintf("%s[%d]", path, i)
			s.keys[ip] = posOf(item)
			s.value(item, out.Index(i), ip)
		}
		v.Set(out)
	default:
		s.leaf(n, v, path)
	}
}

// object scans a mapping into a struct, by its fields' yaml tags.
func (s *scan) object(n ast.Node, v reflect.Value, path string) {
	list, ok := entries(n)
	if !ok {
		what := "the file"
		if path != "" {
			what = path
		}
		s.fail(posOf(n), "%s must be a mapping of keys, not %s", what, describe(n))
		return
	}
	t := v.Type()
	known := make([]string, 0, t.NumField())
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !t.Field(i).IsExported() {
			continue
		}
		known = append(known, name)
		fields[name] = i
	}
	seen := map[string]Position{}
	for _, e := range list {
		key := e.Key.String()
		at := posOf(e.Key)
		if e.Key.IsMergeKey() {
			s.fail(at, "merge keys (<<) are not supported in a config file; write the settings out")
			continue
		}
		i, ok := fields[key]
		if !ok {
			msg := fmt.Sprintf("unknown key %q", clipText(key, 100))
			if path != "" {
				msg += " in " + path
			}
			if m := didyoumean.Closest(key, known); m != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", m)
			} else {
				msg += " (known keys: " + strings.Join(known, ", ") + ")"
			}
			s.fail(at, "%s", msg)
			continue
		}
		kp := join(path, key)
		if first, dup := seen[key]; dup {
			s.fail(at, "%s is set twice (first at line %d)", kp, first.Line)
			continue
		}
		seen[key] = at
		s.keys[kp] = at
		s.value(e.Value, v.Field(i), kp)
	}
}

// leaf decodes a scalar (or a value with its own decoding) into v.
func (s *scan) leaf(n ast.Node, v reflect.Value, path string) {
	p := reflect.New(v.Type())
	if err := yaml.NodeToValue(n, p.Interface(), yaml.Strict()); err != nil {
		s.fail(posOf(n), "%s: %s", path, typeProblem(v.Type(), n, err))
		return
	}
	v.Set(p.Elem())
}

var positionPrefix = regexp.MustCompile(`^\[\d+:\d+\]\s*`)

// typeProblem says what a field of type t wants, given what was written.
func typeProblem(t reflect.Type, n ast.Node, err error) string {
	got := describe(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		var ye yaml.Error
		msg := err.Error()
		if errors.As(err, &ye) {
			msg = ye.GetMessage()
		}
		return positionPrefix.ReplaceAllString(msg, "")
	case t.Kind() == reflect.Bool:
		return "must be true or false, not " + got
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "must be a whole number, not " + got
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "must be a number, not " + got
	case t.Kind() == reflect.String:
		return "must be a single value (a string), not " + got
	case t.Kind() == reflect.Slice:
		return "must be a list of strings, not " + got
	}
	return "cannot be " + got
}

// describe names what a node is, for messages: a scalar is quoted
// (clipped), anything else is named by its kind.
func describe(n ast.Node) string {
	switch n.Type() {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.NullType:
		return "an empty value"
	}
	return strconv.Quote(clipText(RedactURLs(n.String()), 60))
}

// forget records that key's value was set elsewhere than in the file
// (the environment, a flag): a problem with it gets no position, not even
// its section's. Safe on a nil Source.
func (s *Source) forget(key string) {
	if s != nil && s.Keys != nil {
		s.Keys[key] = Position{}
	}
}

// Forget is forget for callers outside the package that override a key
// loaded from the file (command-line flags).
func (s *Source) Forget(key string) { s.forget(key) }

// sortProblems orders problems by position; those without one go last.
func sortProblems(errs []error) {
	at := func(err error) Position {
		var p Problem
		if errors.As(err, &p) && p.Line > 0 {
			return p.Position
		}
		return Position{Line: 1 << 30}
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		pa, pb := at(a), at(b)
		return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Column, pb.Column))
	})
}

// locate gives the problems Validate found the position of their key in
// the file: the longest written key path that starts the problem's key.
func (s *Source) locate(errs []error) []error {
	if s == nil || len(s.Keys) == 0 {
		return errs
	}
	out := make([]error, len(errs))
	for i, err := range errs {
		msg := err.Error()
		key := msg
		if j := strings.IndexAny(msg, ": "); j >= 0 {
			key = msg[:j]
		}
		out[i] = err
		for k := key; k != ""; k = parentKey(k) {
			if p, ok := s.Keys[k]; ok {
				if p.Line > 0 {
					out[i] = Problem{File: s.File, Position: p, Message: msg}
				}
				break
			}
		}
	}
	return out
}

// parentKey cuts the last element of a key path: "a.b[2]" -> "a.b",
// "a.b" -> "a".
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}
