package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The demo's services.
const (
	// ServiceAssistant is the RAG application the demo's monitor watches:
	// it answers questions about the Nimbus thermostat from the help
	// center.
	ServiceAssistant = "nimbus-assistant"
	// ServiceSearch is the help center's search box: the same retriever,
	// without an answer.
	ServiceSearch = "nimbus-search"
)

// Models the demo's services report.
const (
	EmbeddingModel = "text-embedding-3-small"
	provider       = "openai"
)

// Profile is one deployment of a demo service and how it behaves.
type Profile struct {
	Service, Deployment string
	// ChatModel is the model the deployment asks for and ResponseModel
	// the snapshot that answers; both "" for a service without answers.
	ChatModel, ResponseModel string
	// Weight is the deployment's share of the requests.
	Weight float64
	// BeyondContext is the share of answers that add a claim no document
	// supports.
	BeyondContext float64
	// RateLimited and ChatTimeouts are the shares of model calls refused
	// with 429 and timing out.
	RateLimited, ChatTimeouts float64
	// Slowdown multiplies the model's time per token.
	Slowdown float64
	// Transport is how the deployment exports its spans: "http" or
	// "grpc".
	Transport string
}

// Key names the deployment: "service/deployment".
func (p Profile) Key() string { return p.Service + "/" + p.Deployment }

// Profiles returns the demo's deployments: the assistant in production on
// a small model, its canary trying a larger one that strays from its
// context more often, and the search service.
func Profiles() []Profile {
	return []Profile{
		{Service: ServiceAssistant, Deployment: "prod", ChatModel: "gpt-4o-mini", ResponseModel: "gpt-4o-mini-2024-07-18",
			Weight: 0.65, BeyondContext: 0.12, RateLimited: 0.03, ChatTimeouts: 0.01, Slowdown: 1, Transport: "http"},
		{Service: ServiceAssistant, Deployment: "canary", ChatModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06",
			Weight: 0.20, BeyondContext: 0.30, RateLimited: 0.01, ChatTimeouts: 0.04, Slowdown: 1.6, Transport: "http"},
		{Service: ServiceSearch, Deployment: "prod", Weight: 0.15, Transport: "grpc"},
	}
}

// Failure is how a request failed.
type Failure int

// The ways a request fails.
const (
	FailNone Failure = iota
	// FailRateLimited: the model provider refused the call (429).
	FailRateLimited
	// FailChatTimeout: the model call did not finish in time.
	FailChatTimeout
	// FailRetrieverTimeout: the vector store did not answer in time.
	FailRetrieverTimeout
)

// Request is one request to a demo service, planned in full: what was
// asked and found, what was answered, how it failed, how long each step
// took and what it cost in tokens.
type Request struct {
	Profile  Profile
	Start    time.Time
	Question string
	// User and Session say who asked; a session is a user's hour.
	User, Session string
	Hits          []Hit
	// Answer is the assistant's answer; zero for the search service and
	// for failed requests.
	Answer  Answer
	Failure Failure
	// The steps, in order: overhead before the embedding call, the
	// embedding call, the retrieval, the model call (its first token
	// after TTFT), overhead after.
	Before, Embed, Retrieve, Chat, TTFT, After time.Duration
	// Tokens of the embedding call and of the model call.
	EmbedTokens, InputTokens, OutputTokens int64
	// ResponseID is the model call's completion id.
	ResponseID string
}

// Failed reports whether the request failed.
func (r Request) Failed() bool { return r.Failure != FailNone }

// Duration is the request's duration.
func (r Request) Duration() time.Duration {
	return r.Before + r.Embed + r.Retrieve + r.Chat + r.After
}

// Incident is a time range in which the vector store times out on a share
// of the requests.
type Incident struct {
	Start, End time.Time
	Rate       float64
}

// TrafficOptions configure a Traffic.
type TrafficOptions struct {
	// Seed makes the traffic reproducible: the same seed plans the same
	// requests.
	Seed uint64
	// Incident, when its range is not empty, makes the retriever time out.
	Incident Incident
}

// Traffic plans the requests of the demo's users: which deployment, what
// question, and everything that happens to it. The same seed gives the
// same requests.
type Traffic struct {
	rng       *rand.Rand
	o         TrafficOptions
	profiles  []Profile
	questions []Question
	retriever *Retriever
	composer  Composer
	hits      map[string][]Hit
}

// The retrieval's shape: how many documents, and how relevant the best
// must be for the assistant to answer.
const (
	topK     = 3
	minScore = 0.18
)

// systemPrompt is the assistant's instruction to the model.
const systemPrompt = "You are the Nimbus help assistant. Answer the customer's question using only the help center articles in the context. " +
	"If the articles do not cover the question, say so."

// NewTraffic returns a planner over the built-in knowledge base.
func NewTraffic(o TrafficOptions) *Traffic {
	r := NewRetriever(KnowledgeBase())
	return &Traffic{
		rng:       rand.New(rand.NewPCG(o.Seed, 0x6e696d627573)),
		o:         o,
		profiles:  Profiles(),
		questions: Questions(),
		retriever: r,
		composer:  Composer{Retriever: r, MinScore: minScore, MaxSentences: 2},
		hits:      map[string][]Hit{},
	}
}

// Backfill plans n requests that started in [end-span, end), oldest
// first, their rate growing towards end like a morning's traffic.
func (t *Traffic) Backfill(n int, end time.Time, span time.Duration) []Request {
	starts := make([]time.Time, n)
	for i := range starts {
		// The square root of a uniform number is denser near 1.
		f := math.Sqrt(t.rng.Float64())
		starts[i] = end.Add(-span + time.Duration(f*float64(span-time.Second)))
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	out := make([]Request, n)
	for i, s := range starts {
		out[i] = t.Next(s)
	}
	return out
}

// Next plans one request that starts at start.
func (t *Traffic) Next(start time.Time) Request {
	p := t.pickProfile()
	q := t.questions[t.rng.IntN(len(t.questions))]
	user := fmt.Sprintf("user-%03d", 1+t.rng.IntN(60))
	r := Request{
		Profile:  p,
		Start:    start,
		Question: q.Text,
		User:     user,
		Session:  fmt.Sprintf("%s-%s", user, start.UTC().Format("20060102T15")),
		Before:   t.millis(4, 20),
		Embed:    t.millis(30, 110),
		Retrieve: t.millis(12, 60),
		After:    t.millis(4, 25),
	}
	r.Hits = t.search(q.Text)
	r.EmbedTokens = tokens(q.Text)
	inc := t.o.Incident
	if !start.Before(inc.Start) && start.Before(inc.End) && t.rng.Float64() < inc.Rate {
		r.Failure = FailRetrieverTimeout
		r.Retrieve = 2*time.Second + t.millis(0, 15)
		return r
	}
	if p.ChatModel == "" {
		return r // the search service answers with the documents
	}
	r.ResponseID = "chatcmpl-" + t.id(24)
	r.InputTokens = tokens(systemPrompt) + tokens(userMessage(q.Text, r.Hits))
	switch x := t.rng.Float64(); {
	case x < p.RateLimited:
		r.Failure = FailRateLimited
		r.Chat = t.millis(60, 180)
		r.ResponseID = ""
		return r
	case x < p.RateLimited+p.ChatTimeouts:
		r.Failure = FailChatTimeout
		r.Chat = 10*time.Second + t.millis(0, 40)
		r.ResponseID = ""
		return r
	}
	claim := ""
	if t.rng.Float64() < p.BeyondContext {
		claim = unsupportedClaims[t.rng.IntN(len(unsupportedClaims))]
	}
	r.Answer = t.composer.Compose(q.Text, r.Hits, claim)
	r.OutputTokens = tokens(r.Answer.Text)
	r.TTFT = time.Duration(float64(t.millis(250, 650)) * p.Slowdown)
	perToken := time.Duration(float64(t.millis(10, 18)) * p.Slowdown)
	r.Chat = r.TTFT + time.Duration(r.OutputTokens)*perToken
	return r
}

// pickProfile draws a deployment by weight.
func (t *Traffic) pickProfile() Profile {
	var total float64
	for _, p := range t.profiles {
		total += p.Weight
	}
	x := t.rng.Float64() * total
	for _, p := range t.profiles {
		if x < p.Weight {
			return p
		}
		x -= p.Weight
	}
	return t.profiles[len(t.profiles)-1]
}

// search is the retriever's answer to a question, cached: the index
// does not change.
func (t *Traffic) search(q string) []Hit {
	if h, ok := t.hits[q]; ok {
		return h
	}
	h := t.retriever.Search(q, topK)
	t.hits[q] = h
	return h
}

// millis is a random duration from lo to hi milliseconds.
func (t *Traffic) millis(lo, hi int) time.Duration {
	return time.Duration(lo+t.rng.IntN(hi-lo+1))*time.Millisecond + time.Duration(t.rng.IntN(1000))*time.Microsecond
}

// id is n random letters and digits.
func (t *Traffic) id(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[t.rng.IntN(len(chars))]
	}
	return string(b)
}

// userMessage is what the assistant sends the model: the retrieved
// articles, then the question.
func userMessage(question string, hits []Hit) string {
	var b strings.Builder
	b.WriteString("Help center articles:\n")
	for _, h := range hits {
		fmt.Fprintf(&b, "[%s] %s: %s\n", h.Doc.ID, h.Doc.Title, h.Doc.Text)
	}
	b.WriteString("\nQuestion: " + question)
	return b.String()
}

// tokens estimates a text's tokens the way a rule of thumb does: four
// tokens for every three words.
func tokens(s string) int64 {
	return int64(math.Ceil(float64(len(strings.Fields(s))) * 4 / 3))
}
