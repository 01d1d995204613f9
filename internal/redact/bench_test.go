package redact

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchWords make texts like the ones apps send: prose with some numbers,
// ids and punctuation.
var benchWords = strings.Fields(`the retrieval augmented generation pipeline answers questions about
invoices shipping returns warranty accounts billing refunds orders delivery tracking 2026-12-06
customer support policy product manual battery screen charger claim replacement store 14:30
hours payment subscription cancel upgrade plan pricing discount coupon gift order #48213 v2.1
SKU-9921 3.5% $129.99 (see section 4.2) e.g. user's request: "where is my parcel?" key token`)

func benchText(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(benchWords[r.IntN(len(benchWords))])
	}
	return b.String()[:n]
}

// benchTraces builds traces of three spans each as the ingest benchmark
// sends them: a promptflow root with JSON inputs and output, a retriever
// with three documents and an LLM span with GenAI messages, every text
// about 1 KB.
func benchTraces(traces int) ptrace.Traces {
	r := rand.New(rand.NewPCG(1, 2))
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "rag-bench")
	rs.Resource().Attributes().PutStr("deployment.name", "blue")
	ss := rs.ScopeSpans().AppendEmpty()
	for t := 0; t < traces; t++ {
		q, a, doc := benchText(r, 1024), benchText(r, 1024), benchText(r, 1024)
		root := ss.Spans().AppendEmpty()
		root.SetName("flow")
		ra := root.Attributes()
		ra.PutStr("span_type", "Flow")
		ra.PutStr("inputs", fmt.Sprintf(`{"question":%q}`, q))
		ra.PutStr("output", fmt.Sprintf(`{"answer":%q}`, a))
		ra.PutStr("session.id", fmt.Sprintf("session-%d", t))
		ret := ss.Spans().AppendEmpty()
		ret.SetName("retrieve")
		ta := ret.Attributes()
		ta.PutStr("openinference.span.kind", "RETRIEVER")
		ta.PutStr("input.value", q[:200])
		for d := 0; d < 3; d++ {
			p := fmt.Sprintf("retrieval.documents.%d.document.", d)
			ta.PutStr(p+"id", fmt.Sprintf("doc-%d", d))
			ta.PutStr(p+"content", doc[:341])
			ta.PutDouble(p+"score", 0.9)
		}
		llm := ss.Spans().AppendEmpty()
		llm.SetName("chat gpt-4o")
		la := llm.Attributes()
		la.PutStr("gen_ai.operation.name", "chat")
		la.PutStr("gen_ai.request.model", "gpt-4o")
		la.PutInt("gen_ai.usage.input_tokens", 812)
		la.PutStr("gen_ai.input.messages", fmt.Sprintf(`[{"role":"user","parts":[{"type":"text","content":%q}]}]`, q))
		la.PutStr("gen_ai.output.messages", fmt.Sprintf(`[{"role":"assistant","parts":[{"type":"text","content":%q}],"finish_reason":"stop"}]`, a))
	}
	return td
}

// BenchmarkTraces reports ns/span for the redaction of realistic spans
// (no secret in them: the common case, where nothing is rewritten).
func BenchmarkTraces(b *testing.B) {
	const traces = 100
	td := benchTraces(traces)
	spans := traces * 3
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"detectors", Options{Detectors: DetectorNames()}},
		{"email", Options{Detectors: []string{DetectorEmail}}},
		{"phone", Options{Detectors: []string{DetectorPhone}}},
		{"card", Options{Detectors: []string{DetectorCard}}},
		{"api_key", Options{Detectors: []string{DetectorAPIKey}}},
		{"deny", Options{DenyAttributes: []string{"user.email", "http.request.header.*"}}},
		{"literal_rule", Options{Rules: []Rule{{Name: "internal_id", Pattern: `ACME-[0-9]{6}`}}}},
		{"everything", Options{Detectors: DetectorNames(), Rules: []Rule{{Name: "internal_id", Pattern: `ACME-[0-9]{6}`}},
			DenyAttributes: []string{"user.email", "http.request.header.*"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r, err := New(bc.opts, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r.Traces(td)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
		})
	}
}

// BenchmarkTracesWithSecrets redacts spans whose every text holds an
// e-mail address, a card number and a key (the batch is copied each
// time, and the copy is part of the figure).
func BenchmarkTracesWithSecrets(b *testing.B) {
	td := benchTraces(100)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		spans := rss.At(i).ScopeSpans().At(0).Spans()
		for j := 0; j < spans.Len(); j++ {
			for _, v := range spans.At(j).Attributes().All() {
				if s := v.Str(); len(s) > 100 {
					v.SetStr(strings.Replace(s, " ", " jane.doe@example.com 4111 1111 1111 1111 sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34 ", 1))
				}
			}
		}
	}
	r, err := New(Options{Detectors: DetectorNames()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c := ptrace.NewTraces()
		td.CopyTo(c)
		r.Traces(c)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*300), "ns/span")
}
