package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"

	"github.com/flowwatch/flowwatch/internal/model"
)

// Limits that keep a hostile or broken file from costing more than a
// moment of CPU and a little memory.
const (
	// MaxFileSize is the largest monitor file Load reads.
	MaxFileSize = 1 << 20
	// maxFlowNesting bounds [ and { nesting, which the YAML parser handles
	// in time that grows with the square of the depth.
	maxFlowNesting = 64
	// maxDepth bounds the nesting of the document, aliases included.
	maxDepth = 64
	// maxNodes bounds the values a document expands to once aliases are
	// resolved (against "billion laughs" files).
	maxNodes = 100_000
	// maxTokens bounds the YAML tokens of a file before it is parsed: the
	// parser's time grows faster than the number of tokens, and a monitor
	// file has a few hundred.
	maxTokens = 10_000
)

// pos is a 1-based line and column; zero when unknown.
type pos struct{ line, col int }

type kind uint8

const (
	kindNull kind = iota
	kindScalar
	kindMap
	kindSeq
)

func (k kind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindMap:
		return "a mapping"
	case kindSeq:
		return "a list"
	default:
		return "a scalar"
	}
}

type scalarType uint8

const (
	scalarString scalarType = iota
	scalarInt
	scalarFloat
	scalarBool
	scalarNonFinite // .inf, .nan
)

// node is a YAML value with its position, aliases resolved and merge keys
// applied: the shape both monitor forms are read from.
type node struct {
	kind   kind
	pos    pos
	scalar scalarType
	text   string  // a scalar's value as written (unquoted)
	num    float64 // scalarInt, scalarFloat
	bool   bool    // scalarBool
	fields []field // kindMap, in file order
	items  []*node // kindSeq
}

// field is one key of a mapping.
type field struct {
	key string
	pos pos // of the key
	val *node
}

func (n *node) lookup(key string) *field {
	if n == nil {
		return nil
	}
	for i := range n.fields {
		if n.fields[i].key == key {
			return &n.fields[i]
		}
	}
	return nil
}

// ParseError says that the input is not a YAML mapping at all: a syntax
// error, an empty file, several documents, or a list or scalar at the top.
type ParseError struct {
	Line, Column int // 1-based; 0 when unknown
	Message      string
}

func (e *ParseError) Error() string {
	return locate(e.Line, e.Column) + e.Message
}

func locate(line, col int) string {
	switch {
	case line > 0 && col > 0:
		return fmt.Sprintf("line %d, column %d: ", line, col)
	case line > 0:
		return fmt.Sprintf("line %d: ", line)
	}
	return ""
}

// parseRoot parses data into the top-level mapping of its one document.
func parseRoot(data []byte) (root *node, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, emptyFile()
	}
	if line, col, ok := tooDeep(data); !ok {
		return nil, &ParseError{Line: line, Column: col, Message: fmt.Sprintf(
			"brackets nested more than %d deep: a monitor file is never that deep; check the brackets", maxFlowNesting)}
	}
	file, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	var bodies []ast.Node
	for _, doc := range file.Docs {
		if doc != nil && doc.Body != nil {
			if _, comment := doc.Body.(*ast.CommentGroupNode); !comment {
				bodies = append(bodies, doc.Body)
			}
		}
	}
	switch len(bodies) {
	case 0:
		return nil, emptyFile()
	case 1:
	default:
		p := tokenPos(bodies[1])
		return nil, &ParseError{Line: p.line, Column: p.col, Message: fmt.Sprintf(
			"the file holds %d YAML documents; a monitor file holds one monitor: put each monitor in its own file", len(bodies))}
	}
	c := converter{anchors: map[string]ast.Node{}}
	root, err = c.convert(bodies[0], 0)
	if err != nil {
		return nil, err
	}
	if root.kind != kindMap {
		return nil, &ParseError{Line: root.pos.line, Column: root.pos.col, Message: fmt.Sprintf(
			"a monitor file must be a YAML mapping (name: ..., target: ..., schedule: ...), not %s", describe(root))}
	}
	return root, nil
}

func emptyFile() *ParseError {
	return &ParseError{Line: 1, Column: 1, Message: "the file is empty: a monitor is a YAML mapping with at least name, target, schedule, window and quality or operational (see docs/monitors.md)"}
}

func describe(n *node) string {
	if n.kind == kindScalar {
		return fmt.Sprintf("the scalar %q", clip(n.text))
	}
	return n.kind.String()
}

// parseYAML runs the YAML parser, turning its errors (and, defensively,
// its panics) into a *ParseError with the line.
func parseYAML(data []byte) (file *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			file, err = nil, &ParseError{Message: fmt.Sprintf("the YAML parser failed on this file (%v); check its syntax", r)}
		}
	}()
	tokens := lexer.Tokenize(string(data))
	if len(tokens) > maxTokens {
		p := tokens[maxTokens].Position
		return nil, &ParseError{Line: p.Line, Column: p.Column, Message: fmt.Sprintf(
			"the file has more than %d YAML tokens (keys, values, punctuation); a monitor file has a few hundred", maxTokens)}
	}
	file, err = parser.Parse(tokens, 0)
	if err == nil {
		return file, nil
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		pe := &ParseError{Message: "invalid YAML: " + ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			pe.Line, pe.Column = tk.Position.Line, tk.Position.Column
			pe.Message += syntaxHint(data, pe.Line)
		}
		return nil, pe
	}
	return nil, &ParseError{Message: "invalid YAML: " + err.Error()}
}

// syntaxHint explains the commonest syntax error in monitor files: an
// unquoted cron expression, whose "*" starts a YAML alias.
func syntaxHint(data []byte, line int) string {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return ""
	}
	l := string(lines[line-1])
	for _, key := range []string{"cron:", "expression:"} {
		if i := strings.Index(l, key); i >= 0 && strings.HasPrefix(strings.TrimSpace(l[i+len(key):]), "*") {
			return ` (quote cron expressions: a value that starts with "*" is read as a YAML alias; write cron: "*/5 * * * *")`
		}
	}
	return ""
}

// tooDeep reports whether [ and { nest deeper than maxFlowNesting (brackets
// inside quotes and comments are counted too: a false alarm needs dozens of
// unclosed brackets in a string).
func tooDeep(data []byte) (line, col int, ok bool) {
	depth := 0
	line, col = 1, 0
	for _, b := range data {
		col++
		switch b {
		case '\n':
			line, col = line+1, 0
		case '[', '{':
			depth++
			if depth > maxFlowNesting {
				return line, col, false
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return 0, 0, true
}

func tokenPos(n ast.Node) pos {
	if n == nil {
		return pos{}
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// converter turns the parser's AST into nodes.
type converter struct {
	anchors map[string]ast.Node
	nodes   int
}

func (c *converter) fail(n ast.Node, format string, args ...any) error {
	p := tokenPos(n)
	return &ParseError{Line: p.line, Column: p.col, Message: fmt.Sprintf(format, args...)}
}

func (c *converter) convert(n ast.Node, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, c.fail(n, "values nested more than %d deep (or an alias that refers to itself)", maxDepth)
	}
	c.nodes++
	if c.nodes > maxNodes {
		return nil, c.fail(n, "the document expands to more than %d values (through aliases?); a monitor file is far smaller", maxNodes)
	}
	p := tokenPos(n)
	switch v := n.(type) {
	case nil:
		return &node{kind: kindNull}, nil
	case *ast.NullNode:
		return &node{kind: kindNull, pos: p}, nil
	case *ast.StringNode:
		return &node{kind: kindScalar, pos: p, scalar: scalarString, text: v.Value}, nil
	case *ast.LiteralNode:
		text := ""
		if v.Value != nil {
			text = v.Value.Value
		}
		return &node{kind: kindScalar, pos: p, scalar: scalarString, text: text}, nil
	case *ast.IntegerNode:
		out := &node{kind: kindScalar, pos: p, scalar: scalarInt, text: v.GetToken().Value}
		switch i := v.Value.(type) {
		case int64:
			out.num = float64(i)
		case uint64:
			out.num = float64(i)
		default:
			out.scalar = scalarString
		}
		return out, nil
	case *ast.FloatNode:
		return &node{kind: kindScalar, pos: p, scalar: scalarFloat, text: v.GetToken().Value, num: v.Value}, nil
	case *ast.BoolNode:
		return &node{kind: kindScalar, pos: p, scalar: scalarBool, text: v.GetToken().Value, bool: v.Value}, nil
	case *ast.InfinityNode:
		return &node{kind: kindScalar, pos: p, scalar: scalarNonFinite, text: v.GetToken().Value}, nil
	case *ast.NanNode:
		return &node{kind: kindScalar, pos: p, scalar: scalarNonFinite, text: v.GetToken().Value}, nil
	case *ast.TagNode:
		out, err := c.convert(v.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if v.Start != nil && v.Start.Value == "!!str" && out.kind == kindScalar {
			out.scalar = scalarString
		}
		return out, nil
	case *ast.AnchorNode:
		if name := anchorName(v.Name); name != "" {
			c.anchors[name] = v.Value
		}
		return c.convert(v.Value, depth+1)
	case *ast.AliasNode:
		name := anchorName(v.Value)
		target, ok := c.anchors[name]
		if !ok {
			return nil, c.fail(n, "alias *%s refers to no anchor &%s defined before it", name, name)
		}
		out, err := c.convert(target, depth+1)
		if err != nil {
			return nil, err
		}
		return out, nil
	case *ast.MappingNode:
		return c.mapping(v.Values, p, depth)
	case *ast.MappingValueNode:
		return c.mapping([]*ast.MappingValueNode{v}, p, depth)
	case *ast.SequenceNode:
		out := &node{kind: kindSeq, pos: p, items: make([]*node, 0, len(v.Values))}
		for _, item := range v.Values {
			if entry, ok := item.(*ast.SequenceEntryNode); ok {
				item = entry.Value
			}
			cv, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			if cv.pos == (pos{}) {
				cv.pos = p
			}
			out.items = append(out.items, cv)
		}
		return out, nil
	case *ast.MappingKeyNode:
		return c.convert(v.Value, depth+1)
	}
	return nil, c.fail(n, "unsupported YAML construct (%s)", n.Type())
}

func anchorName(n ast.Node) string {
	if n == nil {
		return ""
	}
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// mapping converts key/value pairs. Keys written in the mapping win over
// keys brought in by a merge key (<<: *anchor), as YAML specifies.
func (c *converter) mapping(values []*ast.MappingValueNode, p pos, depth int) (*node, error) {
	out := &node{kind: kindMap, pos: p}
	var merged []*node
	for _, mv := range values {
		if mv == nil {
			continue
		}
		if mv.Key != nil && mv.Key.IsMergeKey() {
			v, err := c.convert(mv.Value, depth+1)
			if err != nil {
				return nil, err
			}
			switch v.kind {
			case kindMap:
				merged = append(merged, v)
			case kindSeq:
				for _, item := range v.items {
					if item.kind != kindMap {
						return nil, c.fail(mv.Value, "a merge key (<<) takes a mapping or a list of mappings")
					}
					merged = append(merged, item)
				}
			default:
				return nil, c.fail(mv.Value, "a merge key (<<) takes a mapping or a list of mappings")
			}
			continue
		}
		key, err := c.convert(mv.Key, depth+1)
		if err != nil {
			return nil, err
		}
		if key.kind != kindScalar && key.kind != kindNull {
			return nil, c.fail(mv.Key, "keys must be plain words, not %s", key.kind)
		}
		keyText := key.text
		if key.kind == kindNull {
			keyText = "null"
		}
		if prev := out.lookup(keyText); prev != nil {
			return nil, c.fail(mv.Key, "key %q appears twice (first on line %d)", keyText, prev.pos.line)
		}
		val, err := c.convert(mv.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if val.pos == (pos{}) {
			val.pos = key.pos
		}
		out.fields = append(out.fields, field{key: keyText, pos: key.pos, val: val})
	}
	for _, m := range merged {
		for _, f := range m.fields {
			if out.lookup(f.key) == nil {
				out.fields = append(out.fields, f)
			}
		}
	}
	if len(out.fields) > 0 {
		out.pos = out.fields[0].pos
	}
	return out, nil
}

// MarshalYAML renders a monitor in the native form, keys in a stable order
// (the order of docs/monitors.md; quality metrics and operational signals
// in the order of their tables there, unknown names after them sorted).
// The output of a monitor returned by Load loads back to the same monitor.
func MarshalYAML(m model.Monitor) ([]byte, error) {
	doc := yaml.MapSlice{{Key: "name", Value: m.Name}}
	if m.Description != "" {
		doc = append(doc, yaml.MapItem{Key: "description", Value: m.Description})
	}
	if m.Disabled {
		doc = append(doc, yaml.MapItem{Key: "disabled", Value: true})
	}
	target := yaml.MapSlice{{Key: "service", Value: m.Target.Service}}
	if m.Target.Deployment != "" {
		target = append(target, yaml.MapItem{Key: "deployment", Value: m.Target.Deployment})
	}
	doc = append(doc, yaml.MapItem{Key: "target", Value: target})

	var schedule yaml.MapSlice
	if m.Schedule.Cron != "" {
		schedule = append(schedule, yaml.MapItem{Key: "cron", Value: m.Schedule.Cron})
	}
	if r := m.Schedule.Recurrence; r != nil {
		rec := yaml.MapSlice{{Key: "frequency", Value: r.Frequency}}
		if r.Interval != 0 {
			rec = append(rec, yaml.MapItem{Key: "interval", Value: r.Interval})
		}
		if len(r.Hours) > 0 {
			rec = append(rec, yaml.MapItem{Key: "hours", Value: r.Hours})
		}
		if len(r.Minutes) > 0 {
			rec = append(rec, yaml.MapItem{Key: "minutes", Value: r.Minutes})
		}
		if len(r.WeekDays) > 0 {
			rec = append(rec, yaml.MapItem{Key: "week_days", Value: r.WeekDays})
		}
		schedule = append(schedule, yaml.MapItem{Key: "recurrence", Value: rec})
	}
	if m.Schedule.Timezone != "" {
		schedule = append(schedule, yaml.MapItem{Key: "timezone", Value: m.Schedule.Timezone})
	}
	doc = append(doc, yaml.MapItem{Key: "schedule", Value: schedule})

	window := yaml.MapSlice{{Key: "lookback", Value: m.Window.Lookback}}
	if m.Window.Offset != "" {
		window = append(window, yaml.MapItem{Key: "offset", Value: m.Window.Offset})
	}
	doc = append(doc, yaml.MapItem{Key: "window", Value: window})
	doc = append(doc, yaml.MapItem{Key: "sampling_rate", Value: number(m.SamplingRate)})

	var columns yaml.MapSlice
	for _, c := range []struct{ key, val string }{
		{"prompt", m.Columns.Prompt}, {"completion", m.Columns.Completion},
		{"context", m.Columns.Context}, {"ground_truth", m.Columns.GroundTruth},
	} {
		if c.val != "" {
			columns = append(columns, yaml.MapItem{Key: c.key, Value: c.val})
		}
	}
	if len(columns) > 0 {
		doc = append(doc, yaml.MapItem{Key: "columns", Value: columns})
	}
	if m.Judge != "" {
		doc = append(doc, yaml.MapItem{Key: "judge", Value: m.Judge})
	}
	if b := m.Budget; b != nil {
		var budget yaml.MapSlice
		if b.MaxTokens != 0 {
			budget = append(budget, yaml.MapItem{Key: "max_tokens", Value: b.MaxTokens})
		}
		if b.MaxCostUSD != 0 {
			budget = append(budget, yaml.MapItem{Key: "max_cost_usd", Value: number(b.MaxCostUSD)})
		}
		doc = append(doc, yaml.MapItem{Key: "budget", Value: emptyMap(budget)})
	}
	if len(m.Quality) > 0 {
		var quality yaml.MapSlice
		for _, name := range orderedKeys(m.Quality, metricNames()) {
			t := m.Quality[name]
			var th yaml.MapSlice
			for _, v := range []struct {
				key string
				val *float64
			}{{"pass_score", t.PassScore}, {"min_pass_rate", t.MinPassRate}, {"min_average", t.MinAverage}} {
				if v.val != nil {
					th = append(th, yaml.MapItem{Key: v.key, Value: number(*v.val)})
				}
			}
			quality = append(quality, yaml.MapItem{Key: name, Value: emptyMap(th)})
		}
		doc = append(doc, yaml.MapItem{Key: "quality", Value: quality})
	}
	if len(m.Operational) > 0 {
		var operational yaml.MapSlice
		for _, name := range orderedKeys(m.Operational, signalNames()) {
			b := m.Operational[name]
			var bound yaml.MapSlice
			if b.Max != nil {
				bound = append(bound, yaml.MapItem{Key: "max", Value: number(*b.Max)})
			}
			if b.Min != nil {
				bound = append(bound, yaml.MapItem{Key: "min", Value: number(*b.Min)})
			}
			operational = append(operational, yaml.MapItem{Key: name, Value: emptyMap(bound)})
		}
		doc = append(doc, yaml.MapItem{Key: "operational", Value: operational})
	}
	var alerting yaml.MapSlice
	if m.Alerting.ForRuns != 0 {
		alerting = append(alerting, yaml.MapItem{Key: "for_runs", Value: m.Alerting.ForRuns})
	}
	if m.Alerting.RepeatInterval != "" {
		alerting = append(alerting, yaml.MapItem{Key: "repeat_interval", Value: m.Alerting.RepeatInterval})
	}
	if m.Alerting.NoData != "" {
		alerting = append(alerting, yaml.MapItem{Key: "no_data", Value: m.Alerting.NoData})
	}
	if len(alerting) > 0 {
		doc = append(doc, yaml.MapItem{Key: "alerting", Value: alerting})
	}
	var notify yaml.MapSlice
	if len(m.Notify.Emails) > 0 {
		notify = append(notify, yaml.MapItem{Key: "emails", Value: m.Notify.Emails})
	}
	if len(m.Notify.Channels) > 0 {
		notify = append(notify, yaml.MapItem{Key: "channels", Value: m.Notify.Channels})
	}
	if len(notify) > 0 {
		doc = append(doc, yaml.MapItem{Key: "notify", Value: notify})
	}
	out, err := yaml.MarshalWithOptions(doc, yaml.Indent(2), yaml.IndentSequence(true))
	if err != nil {
		return nil, fmt.Errorf("render monitor %q: %w", m.Name, err)
	}
	return out, nil
}

// number renders a float the way people write it: 2000000, not 2e+06.
type number float64

func (n number) MarshalYAML() ([]byte, error) {
	v := float64(n)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte(".nan"), nil
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	}
	return []byte(strconv.FormatFloat(v, 'g', -1, 64)), nil
}

// emptyMap keeps an empty threshold set visible as {} rather than null.
func emptyMap(m yaml.MapSlice) any {
	if len(m) == 0 {
		return map[string]any{}
	}
	return m
}

// orderedKeys lists m's keys: known names in their order, then the rest
// sorted.
func orderedKeys[V any](m map[string]V, known []string) []string {
	out := make([]string, 0, len(m))
	seen := make(map[string]bool, len(m))
	for _, k := range known {
		if _, ok := m[k]; ok {
			out = append(out, k)
			seen[k] = true
		}
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}
