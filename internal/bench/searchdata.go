package bench

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
)

// The search benchmark's data: RAG traces as promptflow, OpenInference and
// OTel GenAI instrumentations send them, generated deterministically from a
// trace's number so that several writers can build them in parallel.
//
// Each trace has a flow root, a retrieval span with three documents and a
// chat span; half of them also an embedding span, a third a query-rewrite
// chat span (a second model). Texts are drawn from a vocabulary with a
// Zipf distribution, so some words are in nearly every trace and most are
// rare; on top of that every answer begins with the same phrase (CommonWord
// is in every trace) and one trace in RareWordEvery names a rare product.

// Words the search benchmark looks for.
const (
	// CommonWord is in every trace's answer.
	CommonWord = "documentation"
	// RareWord is in one trace in RareWordEvery.
	RareWord      = "zephyrine"
	RareWordEvery = 20000
	// AbsentWord is in no trace.
	AbsentWord = "quixotically"
)

// searchService is a service of the benchmark data with its deployments
// and their shares of its traffic.
type searchService struct {
	name        string
	share       float64
	deployments []string
	depShares   []float64
}

var searchServices = []searchService{
	{"rag-chat", 0.45, []string{"prod", "canary"}, []float64{0.9, 0.1}},
	{"support-bot", 0.25, []string{"blue", "green"}, []float64{0.5, 0.5}},
	{"docs-qa", 0.2, []string{"prod"}, []float64{1}},
	{"sales-assistant", 0.1, []string{"prod", "staging"}, []float64{0.8, 0.2}},
}

// searchModel is a chat model with its share of the main chat calls. Some
// are reported as dated snapshots, some as aliases; the store keeps
// aliases.
type searchModel struct {
	request, response string
	share             float64
}

var searchModels = []searchModel{
	{"gpt-4o", "gpt-4o-2024-08-06", 0.3},
	{"gpt-4o", "gpt-4o", 0.1},
	{"gpt-4o-mini", "gpt-4o-mini-2024-07-18", 0.25},
	{"claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", 0.2},
	{"llama3.1", "llama3.1", 0.15},
}

// Models and their shares as the benchmark asks for them.
const (
	// CommonModel is in every query-rewrite call and 25% of main calls.
	CommonModel = "gpt-4o-mini"
	// AbsentModel is called by no trace.
	AbsentModel = "gpt-5-turbo"
)

var (
	realWords = strings.Fields(`the a to of and is for in your you can on with this that be are it order
account refund please how what when my not will if or by from have at payment shipping delivery return
policy invoice card subscription plan password billing support customer product warranty store days
business email address update change cancel upgrade price discount coupon gift battery screen charger
replacement manual setup install error login reset verify team member admin report export data api key
limit usage quota region language settings notification mobile app browser sync backup restore`)
	errorTypes = []string{"RateLimitError", "APITimeoutError", "InternalServerError", "ContentFilterError"}
)

// vocabulary returns n words: the real words first (the most frequent),
// then made-up words of two to four syllables.
func vocabulary(n int) []string {
	words := append([]string(nil), realWords...)
	syl := strings.Fields("ka lo mi ne ru sa ti vo ze ba de fi go hu ja ke li mo nu pa qui re si to")
	for i := 0; len(words) < n; i++ {
		var b strings.Builder
		k := i
		for j := 0; j < 2+i%3; j++ {
			b.WriteString(syl[k%len(syl)])
			k = k/len(syl) + j*7 + i
		}
		b.WriteString(strconv.Itoa(i % 97)) // keeps made-up words distinct
		words = append(words, b.String())
	}
	return words
}

// zipf draws word ranks with probability proportional to 1/(rank+1)^s.
type zipf struct{ cdf []float64 }

func newZipf(n int, s float64) *zipf {
	z := &zipf{cdf: make([]float64, n)}
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		z.cdf[i] = sum
	}
	for i := range z.cdf {
		z.cdf[i] /= sum
	}
	return z
}

func (z *zipf) draw(r *mrand.Rand) int {
	u := r.Float64()
	lo, hi := 0, len(z.cdf)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if z.cdf[mid] < u {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// searchGen builds the benchmark's traces.
type searchGen struct {
	begin time.Time     // start of the first trace
	step  time.Duration // between trace starts
	words []string
	zipf  *zipf
	// resources are the resource attributes of each (service, deployment).
	resources                  [][]map[string]any
	serviceShares, modelShares []float64
}

func newSearchGen(begin time.Time, step time.Duration) *searchGen {
	g := &searchGen{begin: begin, step: step, words: vocabulary(5000)}
	g.zipf = newZipf(len(g.words), 1.05)
	for _, s := range searchServices {
		var rs []map[string]any
		for _, d := range s.deployments {
			rs = append(rs, map[string]any{"service.name": s.name, "deployment.name": d,
				"service.version": "2.3.1", "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry"})
		}
		g.resources = append(g.resources, rs)
		g.serviceShares = append(g.serviceShares, s.share)
	}
	for _, m := range searchModels {
		g.modelShares = append(g.modelShares, m.share)
	}
	return g
}

func (g *searchGen) text(r *mrand.Rand, words int) string {
	var b strings.Builder
	for i := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(g.words[g.zipf.draw(r)])
	}
	return b.String()
}

func pick(r *mrand.Rand, shares []float64) int {
	u := r.Float64()
	for i, s := range shares {
		if u < s {
			return i
		}
		u -= s
	}
	return len(shares) - 1
}

// traceIDs derives a trace's id and its spans' ids from its number, so
// that they look random (as real ids do) but are reproducible.
func traceIDs(n uint64) (trace string, span func(i int) string) {
	var id [16]byte
	binary.BigEndian.PutUint64(id[:8], mix(n))
	binary.BigEndian.PutUint64(id[8:], mix(n^0x9e3779b97f4a7c15))
	base := mix(n ^ 0x5851f42d4c957f2d)
	return hex.EncodeToString(id[:]), func(i int) string {
		return fmt.Sprintf("%016x", base+uint64(i))
	}
}

// mix is SplitMix64's finalizer.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// duration draws a request's duration: log-normal around 1.4 s with a
// long tail, and one request in 200 waiting on a slow upstream (20 s to
// 2 min).
func duration(r *mrand.Rand) time.Duration {
	d := time.Duration(1400 * math.Exp(0.7*r.NormFloat64()) * float64(time.Millisecond))
	if r.IntN(200) == 0 {
		d += time.Duration(20+r.IntN(100)) * time.Second
	}
	return max(d, 30*time.Millisecond)
}

// trace appends the spans of trace number n to dst.
func (g *searchGen) trace(dst []model.Span, n uint64) []model.Span {
	r := mrand.New(mrand.NewPCG(n, 0x5eed))
	traceID, spanID := traceIDs(n)
	start := g.begin.Add(time.Duration(n) * g.step).Add(time.Duration(r.Int64N(int64(4 * time.Second))))
	if r.IntN(200) == 0 {
		// A late trace: exported long after it started.
		start = start.Add(-time.Duration(r.Int64N(int64(2 * time.Hour))))
	}
	si := pick(r, g.serviceShares)
	svc := searchServices[si]
	res := g.resources[si][pick(r, svc.depShares)]
	scope := model.Scope{Name: "promptflow", Version: "1.17.0"}
	total := duration(r)
	failed := r.IntN(100) < 3

	question := g.text(r, 6+r.IntN(14)) + "?"
	if r.IntN(RareWordEvery) == 0 {
		question = "what about the " + RareWord + " " + question
	}
	answer := "Based on the " + CommonWord + ", " + g.text(r, 30+r.IntN(90)) + "."
	docs := [3]string{g.text(r, 30+r.IntN(30)), g.text(r, 30+r.IntN(30)), g.text(r, 30+r.IntN(30))}
	session := fmt.Sprintf("session-%d", n/5)
	user := fmt.Sprintf("user-%d", mix(n/5)%5000)

	root := model.Span{TraceID: traceID, SpanID: spanID(0), Name: "chat", OTelKind: "server",
		StartTime: start, EndTime: start.Add(total), StatusCode: model.StatusOK,
		ResourceAttributes: res, Scope: scope,
		Attributes: map[string]any{"span_type": "Flow", "framework": "promptflow", "function": "chat",
			"inputs":     `{"question":` + strconv.Quote(question) + `,"chat_history":[]}`,
			"session.id": session, "user.id": user}}
	if failed {
		root.StatusCode, root.StatusMessage = model.StatusError, "upstream model call failed"
	} else {
		root.Attributes["output"] = `{"answer":` + strconv.Quote(answer) + `}`
	}
	dst = append(dst, root)

	at := start.Add(5 * time.Millisecond)
	child := func(i int, name, kind string, d time.Duration, attrs map[string]any) *model.Span {
		sp := model.Span{TraceID: traceID, SpanID: spanID(i), ParentSpanID: spanID(0), Name: name, OTelKind: kind,
			StartTime: at, EndTime: at.Add(d), StatusCode: model.StatusUnset, ResourceAttributes: res, Scope: scope,
			Attributes: attrs}
		at = at.Add(d + time.Millisecond)
		dst = append(dst, sp)
		return &dst[len(dst)-1]
	}
	next := 1
	if r.IntN(3) == 0 {
		// Query rewrite with the small model.
		rewritten := g.text(r, 8)
		child(next, "chat gpt-4o-mini", "client", total/10, map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
			"gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
			"gen_ai.usage.input_tokens": int64(120 + r.IntN(80)), "gen_ai.usage.output_tokens": int64(20 + r.IntN(20)),
			"gen_ai.input.messages":  `[{"role":"user","parts":[{"type":"text","content":` + strconv.Quote("Rewrite as a search query: "+question) + `}]}]`,
			"gen_ai.output.messages": `[{"role":"assistant","parts":[{"type":"text","content":` + strconv.Quote(rewritten) + `}],"finish_reason":"stop"}]`,
		})
		next++
	}
	if r.IntN(2) == 0 {
		child(next, "embeddings text-embedding-3-small", "client", total/20, map[string]any{
			"gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
			"gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": int64(10 + r.IntN(30)),
		})
		next++
	}
	ret := map[string]any{"openinference.span.kind": "RETRIEVER", "input.value": question}
	for i, d := range docs {
		p := "retrieval.documents." + strconv.Itoa(i) + ".document."
		ret[p+"id"] = fmt.Sprintf("kb-%d", mix(n+uint64(i))%100000)
		ret[p+"content"] = d
		ret[p+"score"] = 0.9 - float64(i)/10
	}
	child(next, "retrieve", "internal", total/8, ret)
	next++

	m := searchModels[pick(r, g.modelShares)]
	llm := child(next, "chat "+m.request, "client", total-total/10-total/8-total/20-10*time.Millisecond, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
		"gen_ai.request.model": m.request, "gen_ai.response.model": m.response,
		"gen_ai.usage.input_tokens": int64(600 + r.IntN(900)), "gen_ai.usage.output_tokens": int64(80 + r.IntN(300)),
		"gen_ai.input.messages": `[{"role":"system","parts":[{"type":"text","content":` +
			strconv.Quote("Answer from the context:\n"+docs[0]+"\n"+docs[1]+"\n"+docs[2]) +
			`}]},{"role":"user","parts":[{"type":"text","content":` + strconv.Quote(question) + `}]}]`,
	})
	if failed {
		llm.StatusCode, llm.StatusMessage = model.StatusError, "the model call failed"
		llm.Attributes["error.type"] = errorTypes[r.IntN(len(errorTypes))]
	} else {
		llm.Attributes["gen_ai.output.messages"] = `[{"role":"assistant","parts":[{"type":"text","content":` +
			strconv.Quote(answer) + `}],"finish_reason":"stop"}]`
	}
	return dst
}
