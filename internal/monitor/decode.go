package monitor

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/flowwatch/flowwatch/internal/didyoumean"
)

// decoder reads a parsed monitor file strictly. It collects every problem
// instead of stopping at the first, and remembers where each native key
// came from, so problems found later by validation get a line too. In the
// reference form it also remembers the reference file's own key path of
// each native key ("shown" paths), which is what problems name.
type decoder struct {
	problems []Problem
	locs     map[string]loc  // native path -> where it is, or would be, in the file
	bad      map[string]bool // native paths whose value could not be read
	warnings []string
}

type loc struct {
	shown string
	pos   pos
}

func newDecoder() *decoder {
	return &decoder{locs: map[string]loc{}, bad: map[string]bool{}}
}

// at records that native path native is written at shown, position p.
func (d *decoder) at(native, shown string, p pos) {
	if native != "" || shown == "" {
		d.locs[native] = loc{shown: shown, pos: p}
	}
}

// fail records a problem at shown/p; native (if any) is marked as not read,
// so validation does not report it again as missing.
func (d *decoder) fail(native, shown string, p pos, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: shown, Line: p.line, Column: p.col, Message: fmt.Sprintf(format, args...)})
	if native != "" {
		d.bad[native] = true
	}
}

func (d *decoder) warn(shown, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if shown != "" {
		msg = shown + ": " + msg
	}
	d.warnings = append(d.warnings, msg)
}

// suppressed reports whether a validation problem at native path p follows
// from a value that could not be read (p is that value, inside it, or a
// list or map holding it).
func (d *decoder) suppressed(p string) bool {
	for bad := range d.bad {
		if p == bad || strings.HasPrefix(p, bad+".") || strings.HasPrefix(p, bad+"[") {
			return true
		}
	}
	return false
}

// locate finds where native path p is, or the closest enclosing key that
// is in the file. In the native form problems keep their own path; in the
// reference form they take the recorded reference path.
func (d *decoder) locate(p string, reference bool) (shown string, at pos, exact bool) {
	for cand := p; ; {
		if l, ok := d.locs[cand]; ok {
			if reference {
				return l.shown, l.pos, cand == p
			}
			return p, l.pos, cand == p
		}
		i := strings.LastIndexAny(cand, ".[")
		if i < 0 {
			if cand == "" {
				return p, pos{}, false
			}
			cand = ""
			continue
		}
		cand = cand[:i]
	}
}

// join appends a key to a path; keys with dots, brackets, quotes or spaces
// are quoted so the path stays readable.
func join(parent, key string) string {
	if key == "" || strings.ContainsAny(key, ".[]\" \t") {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// nativeIndex is index for native paths, where "" means "no native key".
func nativeIndex(native string, i int) string {
	if native == "" {
		return ""
	}
	return index(native, i)
}

// object reads a mapping strictly: keys that were asked for are known,
// anything else is reported by done as an unknown key.
type object struct {
	d      *decoder
	n      *node // nil when absent, null or not a mapping
	native string
	shown  string
	pos    pos
	known  []string
	used   map[string]bool
	// natives maps keys asked for to the native paths they set.
	natives map[string]string
}

// object starts reading n (the value at native/shown, whose key is at p) as
// a mapping. Null reads as an empty mapping; any other non-mapping is a
// problem.
func (d *decoder) object(n *node, p pos, native, shown string) *object {
	o := &object{d: d, native: native, shown: shown, pos: p, used: map[string]bool{}}
	switch {
	case n == nil || n.kind == kindNull:
	case n.kind == kindMap:
		o.n = n
		if o.pos == (pos{}) {
			o.pos = n.pos
		}
	default:
		d.fail(native, shown, n.pos, "must be a mapping (key: value pairs), not %s", describe(n))
	}
	d.at(native, shown, o.pos)
	return o
}

// present reports whether the mapping was in the file.
func (o *object) present() bool { return o.n != nil }

// get returns the field key (nil when absent) and marks it known.
func (o *object) get(key string) *field {
	o.known = append(o.known, key)
	f := o.n.lookup(key)
	if f != nil {
		o.used[key] = true
	}
	return f
}

// child reads key as a nested mapping.
func (o *object) child(key, native string) (*object, *field) {
	o.setNative(key, native)
	f := o.get(key)
	if f == nil {
		o.will(key, native)
		c := &object{d: o.d, native: native, shown: join(o.shown, key), pos: o.pos, used: map[string]bool{}}
		return c, nil
	}
	return o.d.object(f.val, f.pos, native, join(o.shown, key)), f
}

// will records where native would be written (key of this mapping), for
// problems about a key that is missing; reading the key, when it is
// there, records its own position.
func (o *object) will(key, native string) {
	o.setNative(key, native)
	o.d.at(native, join(o.shown, key), o.pos)
}

func (o *object) setNative(key, native string) {
	if native == "" {
		return
	}
	if o.natives == nil {
		o.natives = map[string]string{}
	}
	o.natives[key] = native
}

// rest returns the fields nobody asked for yet and marks them used.
func (o *object) rest() []field {
	if o.n == nil {
		return nil
	}
	var out []field
	for _, f := range o.n.fields {
		if !o.used[f.key] {
			o.used[f.key] = true
			out = append(out, f)
		}
	}
	return out
}

// ignore accepts key without using it and says so in a warning.
func (o *object) ignore(key, why string) {
	o.known = append(o.known, key)
	if f := o.n.lookup(key); f != nil {
		o.used[key] = true
		o.d.warn(join(o.shown, key), "ignored: %s", why)
	}
}

// all returns every field, for mappings whose keys are names (metrics,
// signals), and marks them used.
func (o *object) all() []field {
	if o.n == nil {
		return nil
	}
	for _, f := range o.n.fields {
		o.used[f.key] = true
	}
	return o.n.fields
}

// done reports the keys nobody asked for.
func (o *object) done() {
	if o.n == nil {
		return
	}
	for _, f := range o.n.fields {
		if o.used[f.key] {
			continue
		}
		msg := fmt.Sprintf("unknown key %q", f.key)
		if s := suggest(f.key, o.known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
			// The misspelt key is reported; that the right one is
			// missing would say the same thing again.
			if native := o.natives[s]; native != "" && o.n.lookup(s) == nil {
				o.d.bad[native] = true
			}
		}
		known := append([]string(nil), o.known...)
		sort.Strings(known)
		msg += "; expected one of: " + strings.Join(dedupe(known), ", ")
		o.d.fail("", join(o.shown, f.key), f.pos, "%s", msg)
	}
}

// scalar returns key's value when it is a scalar; nil when absent or
// null; a problem when it is a mapping or list.
func (o *object) scalar(key, native, want string) *node {
	o.setNative(key, native)
	f := o.get(key)
	if f == nil || f.val.kind == kindNull {
		return nil
	}
	shown := join(o.shown, key)
	o.d.at(native, shown, f.val.pos)
	if f.val.kind != kindScalar {
		o.d.fail(native, shown, f.val.pos, "must be %s, not %s", want, describe(f.val))
		return nil
	}
	return f.val
}

func (o *object) str(key, native string) (string, bool) {
	n := o.scalar(key, native, "a string")
	if n == nil {
		return "", false
	}
	return n.text, true
}

func (o *object) num(key, native string) (float64, bool) {
	n := o.scalar(key, native, "a number")
	if n == nil {
		return 0, false
	}
	v, msg := toNumber(n)
	if msg != "" {
		o.d.fail(native, join(o.shown, key), n.pos, "%s", msg)
		return 0, false
	}
	return v, true
}

func (o *object) numPtr(key, native string) *float64 {
	v, ok := o.num(key, native)
	if !ok {
		return nil
	}
	return &v
}

func (o *object) integer(key, native string) (int, bool) {
	n := o.scalar(key, native, "a whole number")
	if n == nil {
		return 0, false
	}
	v, msg := toInt(n)
	if msg != "" {
		o.d.fail(native, join(o.shown, key), n.pos, "%s", msg)
		return 0, false
	}
	return v, true
}

func (o *object) boolean(key, native string) (bool, bool) {
	n := o.scalar(key, native, "true or false")
	if n == nil {
		return false, false
	}
	if n.scalar == scalarBool {
		return n.bool, true
	}
	if n.scalar == scalarString {
		switch strings.ToLower(strings.TrimSpace(n.text)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	o.d.fail(native, join(o.shown, key), n.pos, "must be true or false, not %q", clip(n.text))
	return false, false
}

// list returns key's items and their shown paths: a list, or one scalar
// standing for a list of one. Each item's position is recorded as
// native[i].
func (o *object) list(key, native, want string) ([]*node, []string) {
	o.setNative(key, native)
	f := o.get(key)
	if f == nil || f.val.kind == kindNull {
		return nil, nil
	}
	shown := join(o.shown, key)
	o.d.at(native, shown, f.val.pos)
	var items []*node
	switch f.val.kind {
	case kindSeq:
		items = f.val.items
	case kindScalar:
		items = []*node{f.val}
	default:
		o.d.fail(native, shown, f.val.pos, "must be a list of %s, not %s", want, describe(f.val))
		return nil, nil
	}
	if len(items) == 0 {
		return nil, nil // [] is the same as leaving the key out
	}
	paths := make([]string, len(items))
	for i, item := range items {
		paths[i] = shown
		if f.val.kind == kindSeq {
			paths[i] = index(shown, i)
		}
		o.d.at(nativeIndex(native, i), paths[i], item.pos)
		if item.kind != kindScalar {
			o.d.fail(nativeIndex(native, i), paths[i], item.pos, "must be %s, not %s", want, describe(item))
			return nil, nil
		}
	}
	return items, paths
}

func (o *object) strs(key, native string) ([]string, bool) {
	items, _ := o.list(key, native, "strings")
	if items == nil {
		return nil, false
	}
	out := make([]string, len(items))
	for i, n := range items {
		out[i] = n.text
	}
	return out, true
}

func (o *object) ints(key, native string) ([]int, bool) {
	items, paths := o.list(key, native, "whole numbers")
	if items == nil {
		return nil, false
	}
	out := make([]int, len(items))
	for i, n := range items {
		v, msg := toInt(n)
		if msg != "" {
			o.d.fail(nativeIndex(native, i), paths[i], n.pos, "%s", msg)
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// toNumber reads a number; a quoted number ("0.7") is accepted too.
func toNumber(n *node) (float64, string) {
	switch n.scalar {
	case scalarInt, scalarFloat:
		return n.num, ""
	case scalarNonFinite:
		return 0, fmt.Sprintf("must be a finite number, not %s", n.text)
	case scalarString:
		v, err := strconv.ParseFloat(strings.TrimSpace(n.text), 64)
		if err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return v, ""
		}
		if err != nil && strings.Contains(err.Error(), "range") {
			return 0, fmt.Sprintf("the number %s is too large", clip(n.text))
		}
	}
	return 0, fmt.Sprintf("must be a number, not %q", clip(n.text))
}

// maxInt bounds whole numbers read from a file; no monitor setting needs
// more, and it keeps arithmetic on them far from overflow.
const maxInt = 1_000_000_000

func toInt(n *node) (int, string) {
	v, msg := toNumber(n)
	if msg != "" {
		return 0, strings.Replace(msg, "a number", "a whole number", 1)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Sprintf("must be a whole number, not %s", clip(n.text))
	}
	if math.Abs(v) > maxInt {
		return 0, fmt.Sprintf("the number %s is too large", clip(n.text))
	}
	return int(v), ""
}

// suggest returns the known key closest to key, if it is close enough to
// be a typo.
func suggest(key string, known []string) string { return didyoumean.Closest(key, known) }

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
