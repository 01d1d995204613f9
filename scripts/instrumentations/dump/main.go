// Command dump prints an inventory of the captured instrumentation corpus:
// for every library and scenario the spans (name, kind, scope, parent,
// status, attributes, events) and log records it sent, and whether the three
// transports carried the same telemetry.
//
// Usage (from the repository root):
//
//	go run ./scripts/instrumentations/dump [-dir internal/app/testdata/instrumentations] [-lib langfuse-js] [-all]
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

type request struct {
	File            string   `json:"file"`
	Scenario        string   `json:"scenario"`
	Transport       string   `json:"transport"`
	Signal          string   `json:"signal"`
	Path            string   `json:"path"`
	ContentType     string   `json:"content_type"`
	ContentEncoding string   `json:"content_encoding"`
	UserAgent       string   `json:"user_agent"`
	AuthHeaders     []string `json:"auth_headers"`
}

type manifest struct {
	Library  string            `json:"library"`
	Language string            `json:"language"`
	Packages map[string]string `json:"packages"`
	Requests []request         `json:"requests"`
}

var (
	maxVal = flag.Int("maxval", 90, "truncate attribute values to this many characters")
	all    = flag.Bool("all", false, "print every transport in full, not only the first one of each scenario")
	check  = flag.Bool("check", false, "print only problems; exit 1 if a scenario has spans whose parent is not in it, or transports that differ")

	problems int
)

// problem reports something wrong with the corpus.
func problem(format string, args ...any) {
	problems++
	fmt.Printf("PROBLEM: "+format+"\n", args...)
}

func main() {
	dir := flag.String("dir", "internal/app/testdata/instrumentations", "corpus directory")
	only := flag.String("lib", "", "only this library directory")
	flag.Parse()
	log.SetFlags(0)

	entries, err := os.ReadDir(*dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || (*only != "" && e.Name() != *only) {
			continue
		}
		if err := dumpLibrary(filepath.Join(*dir, e.Name())); err != nil {
			log.Fatalf("%s: %v", e.Name(), err)
		}
	}
	if *check {
		fmt.Printf("corpus check: %d problem(s)\n", problems)
		if problems > 0 {
			os.Exit(1)
		}
	}
}

// say prints unless only problems are wanted.
func say(format string, args ...any) {
	if !*check {
		fmt.Printf(format, args...)
	}
}

func dumpLibrary(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "requests.json"))
	if err != nil {
		return err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	say("######## %s — %s\n", filepath.Base(dir), m.Library)
	keys := make([]string, 0, len(m.Packages))
	for k := range m.Packages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		say("  package %s@%s\n", k, m.Packages[k])
	}

	// Group by scenario, keeping the order of first appearance.
	var scenarios []string
	byScenario := map[string][]request{}
	for _, r := range m.Requests {
		if _, ok := byScenario[r.Scenario]; !ok {
			scenarios = append(scenarios, r.Scenario)
		}
		byScenario[r.Scenario] = append(byScenario[r.Scenario], r)
	}
	for _, sc := range scenarios {
		say("\n=== scenario %s\n", sc)
		var transports []string
		byTransport := map[string][]request{}
		for _, r := range byScenario[sc] {
			if _, ok := byTransport[r.Transport]; !ok {
				transports = append(transports, r.Transport)
			}
			byTransport[r.Transport] = append(byTransport[r.Transport], r)
		}
		shapes := map[string]string{}
		for i, tr := range transports {
			var out strings.Builder
			var shape strings.Builder
			ids := &spanIndex{names: map[pcommon.SpanID]string{}, traces: map[pcommon.TraceID]bool{}}
			for _, r := range byTransport[tr] {
				fmt.Fprintf(&out, "--- %s  %s %s  path=%s ct=%q ce=%q ua=%q auth=%v\n",
					r.File, r.Transport, r.Signal, r.Path, r.ContentType, r.ContentEncoding, r.UserAgent, r.AuthHeaders)
				if err := ids.add(dir, r); err != nil {
					return fmt.Errorf("%s: %w", r.File, err)
				}
			}
			for _, r := range byTransport[tr] {
				if err := dumpRequest(&out, &shape, ids, dir, r); err != nil {
					return fmt.Errorf("%s: %w", r.File, err)
				}
			}
			if len(ids.traces) > 1 {
				problem("%s %s %s: spans of %d traces (every scenario makes one)", filepath.Base(dir), sc, tr, len(ids.traces))
			}
			for _, o := range ids.orphans {
				problem("%s %s %s: span %q has parent %s, which is not in this scenario", filepath.Base(dir), sc, tr, o.name, o.parent)
			}
			shapes[tr] = shape.String()
			if i == 0 || *all {
				say("%s", out.String())
			} else {
				say("--- %s: %d request(s)\n", tr, len(byTransport[tr]))
			}
		}
		for _, tr := range transports[1:] {
			if shapes[tr] != shapes[transports[0]] {
				problem("%s %s: %s differs from %s in span/log shape:\n%s\nvs\n%s", filepath.Base(dir), sc, tr, transports[0], shapes[tr], shapes[transports[0]])
			}
		}
		if len(transports) > 1 {
			say("(transports %v: same span names, kinds and attribute keys: %v)\n", transports, allSame(shapes))
		}
	}
	say("\n")
	return nil
}

// spanIndex knows the spans of all requests of one scenario and transport,
// so parents can be named across request files.
type spanIndex struct {
	names   map[pcommon.SpanID]string
	traces  map[pcommon.TraceID]bool
	orphans []orphan
}

type orphan struct {
	name   string
	parent pcommon.SpanID
}

func (x *spanIndex) add(dir string, r request) error {
	if r.Signal != "traces" {
		return nil
	}
	td, err := readTraces(dir, r)
	if err != nil {
		return err
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				x.names[sp.SpanID()] = sp.Name()
				x.traces[sp.TraceID()] = true
			}
		}
	}
	return nil
}

func readTraces(dir string, r request) (ptrace.Traces, error) {
	body, err := readBody(dir, r)
	if err != nil {
		return ptrace.Traces{}, err
	}
	req := ptraceotlp.NewExportRequest()
	if strings.HasPrefix(r.ContentType, "application/json") {
		err = req.UnmarshalJSON(body)
	} else {
		err = req.UnmarshalProto(body)
	}
	return req.Traces(), err
}

func allSame(m map[string]string) bool {
	var first *string
	for _, v := range m {
		if first == nil {
			first = &v
			continue
		}
		if v != *first {
			return false
		}
	}
	return true
}

func readBody(dir string, r request) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, r.File))
	if err != nil {
		return nil, err
	}
	if r.ContentEncoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return b, nil
}

func dumpRequest(out, shape *strings.Builder, ids *spanIndex, dir string, r request) error {
	if r.Signal == "traces" {
		td, err := readTraces(dir, r)
		if err != nil {
			return err
		}
		dumpTraces(out, shape, ids, td)
		return nil
	}
	body, err := readBody(dir, r)
	if err != nil {
		return err
	}
	isJSON := strings.HasPrefix(r.ContentType, "application/json")
	switch r.Signal {
	case "logs":
		req := plogotlp.NewExportRequest()
		if isJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			return err
		}
		dumpLogs(out, shape, req.Logs())
	default:
		fmt.Fprintf(out, "    (%d bytes, not OTLP)\n", len(body))
	}
	return nil
}

func dumpTraces(out, shape *strings.Builder, ids *spanIndex, td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		fmt.Fprintf(out, "  resource: %s\n", attrsInline(rs.Resource().Attributes()))
		for _, ss := range rs.ScopeSpans().All() {
			fmt.Fprintf(out, "  scope %s@%s\n", ss.Scope().Name(), ss.Scope().Version())
			for _, sp := range ss.Spans().All() {
				parent := "ROOT"
				if !sp.ParentSpanID().IsEmpty() {
					parent = ids.names[sp.ParentSpanID()]
					if parent == "" {
						parent = "(missing)"
						ids.orphans = append(ids.orphans, orphan{sp.Name(), sp.ParentSpanID()})
					}
				}
				dur := sp.EndTimestamp().AsTime().Sub(sp.StartTimestamp().AsTime())
				fmt.Fprintf(out, "  SPAN %q kind=%s parent=%s status=%s %q dur=%s\n",
					sp.Name(), sp.Kind(), parent, sp.Status().Code(), sp.Status().Message(), dur)
				fmt.Fprintf(shape, "span %q %s parent=%s attrs=%v events=%d\n", sp.Name(), sp.Kind(), parent, attrKeys(sp.Attributes()), sp.Events().Len())
				printAttrs(out, "      ", sp.Attributes())
				for _, ev := range sp.Events().All() {
					fmt.Fprintf(out, "      EVENT %q\n", ev.Name())
					printAttrs(out, "          ", ev.Attributes())
				}
				for _, l := range sp.Links().All() {
					fmt.Fprintf(out, "      LINK %s/%s\n", l.TraceID(), l.SpanID())
				}
			}
		}
	}
}

func dumpLogs(out, shape *strings.Builder, ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		fmt.Fprintf(out, "  resource: %s\n", attrsInline(rl.Resource().Attributes()))
		for _, sl := range rl.ScopeLogs().All() {
			fmt.Fprintf(out, "  scope %s@%s\n", sl.Scope().Name(), sl.Scope().Version())
			for _, lr := range sl.LogRecords().All() {
				fmt.Fprintf(out, "  LOG event_name=%q severity=%s/%d time=%d observed=%d trace=%t span=%t\n",
					lr.EventName(), lr.SeverityText(), lr.SeverityNumber(), lr.Timestamp(), lr.ObservedTimestamp(),
					!lr.TraceID().IsEmpty(), !lr.SpanID().IsEmpty())
				fmt.Fprintf(shape, "log %q attrs=%v body=%s\n", lr.EventName(), attrKeys(lr.Attributes()), lr.Body().Type())
				printAttrs(out, "      ", lr.Attributes())
				fmt.Fprintf(out, "      body(%s) = %s\n", lr.Body().Type(), trunc(lr.Body().AsString(), 4*(*maxVal)))
			}
		}
	}
}

func attrKeys(m pcommon.Map) []string {
	keys := make([]string, 0, m.Len())
	for k := range m.All() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func printAttrs(out *strings.Builder, indent string, m pcommon.Map) {
	for _, k := range attrKeys(m) {
		v, _ := m.Get(k)
		fmt.Fprintf(out, "%s%s (%s) = %s\n", indent, k, v.Type(), trunc(v.AsString(), *maxVal))
	}
}

func attrsInline(m pcommon.Map) string {
	var parts []string
	for _, k := range attrKeys(m) {
		v, _ := m.Get(k)
		parts = append(parts, k+"="+v.AsString())
	}
	return strings.Join(parts, " ")
}

func trunc(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + fmt.Sprintf("…(%d chars)", len(r))
}
