package app_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/flowwatch/flowwatch/internal/api"
	"github.com/flowwatch/flowwatch/internal/app"
	"github.com/flowwatch/flowwatch/internal/config"
	"github.com/flowwatch/flowwatch/internal/gateway/gatewaytest"
)

// Questions the scripted upstream of the client tests answers, each its
// own way.
const (
	askChat      = "How do I reset my password?"
	askStream    = "How do I change my e-mail address?"
	askResponses = "Where do I find my invoices?"
	askRespSSE   = "Can I export my data?"
	askLimited   = "Why is the sky blue?"
	askBroken    = "What is the meaning of life?"
)

// clientUpstream answers the client tests' questions: known token counts,
// a snapshot model name, delays that bound the recorded latency from below.
func clientUpstream(t *testing.T) *gatewaytest.Server {
	return gatewaytest.New(t, gatewaytest.Options{Reply: func(r gatewaytest.Request) gatewaytest.Reply {
		body := string(r.Body)
		switch {
		case strings.Contains(body, askChat):
			return gatewaytest.Reply{Content: "Use the reset link.", Model: "gpt-4o-mini-2024-07-18",
				Usage: &gatewaytest.Usage{InputTokens: 12, OutputTokens: 5}, Delay: 40 * time.Millisecond}
		case strings.Contains(body, askStream):
			return gatewaytest.Reply{Content: "Open your profile and edit the address.", Model: "gpt-4o-mini-2024-07-18",
				Usage: &gatewaytest.Usage{InputTokens: 21, OutputTokens: 8, CachedTokens: 4}, Delay: 30 * time.Millisecond}
		case strings.Contains(body, askResponses), strings.Contains(body, askRespSSE):
			return gatewaytest.Reply{Content: "Under Billing, then Invoices.", Model: "gpt-4.1-2025-04-14",
				Usage: &gatewaytest.Usage{InputTokens: 30, OutputTokens: 6, ReasoningTokens: 2}}
		case strings.Contains(body, askLimited):
			return gatewaytest.Reply{Status: http.StatusTooManyRequests, RetryAfter: 20 * time.Second}
		case strings.Contains(body, askBroken):
			return gatewaytest.Reply{Status: http.StatusInternalServerError}
		case r.Endpoint == gatewaytest.EndpointEmbeddings:
			return gatewaytest.Reply{Usage: &gatewaytest.Usage{InputTokens: 9}}
		}
		return gatewaytest.Reply{Status: http.StatusBadRequest, Message: "gatewaytest: unscripted request"}
	}})
}

// callerKey is an upstream key as a caller sends it: distinctive, so that
// a test can look for it everywhere.
func callerKey() string { return randomToken("sk-test-") + "-caller-secret" }

// traceParent is a W3C traceparent naming trace n and a caller's span.
func traceParent(n int) (header, traceID, spanID string) {
	traceID, spanID = fmt.Sprintf("%032x", 0xc0ffee000+n), fmt.Sprintf("%016x", 0xabc000+n)
	return "00-" + traceID + "-" + spanID + "-01", traceID, spanID
}

// waitTrace waits for the trace to be recorded and returns it.
func waitTrace(t *testing.T, a *app.App, id string) api.TraceDetail {
	t.Helper()
	var d api.TraceDetail
	until(t, "trace "+id+" recorded", func() bool {
		d = api.TraceDetail{}
		return get(t, a, "/api/v1/traces/"+id, &d) == http.StatusOK
	})
	return d
}

// spanOfKind returns the trace's only span of flowwatch kind k.
func spanOfKind(t *testing.T, d api.TraceDetail, k string) api.Span {
	t.Helper()
	var found []api.Span
	for _, s := range d.Spans {
		if s.Kind == k {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		var kinds []string
		for _, s := range d.Spans {
			kinds = append(kinds, s.Name+":"+s.Kind)
		}
		t.Fatalf("trace %s: %d spans of kind %s, want 1 (spans: %v)", d.TraceID, len(found), k, kinds)
	}
	return found[0]
}

func int64Of(p *int64) int64 {
	if p == nil {
		return -1
	}
	return *p
}

func messageText(msgs []api.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		for _, p := range m.Parts {
			b.WriteString(m.Role + ": " + p.Content + "\n")
		}
	}
	return b.String()
}

// TestGatewayOpenAIClient points the official openai-go client at a
// gateway (chat, streamed chat with include_usage, embeddings, the
// Responses API plain and streamed, a 429 and a 500) and reads each call
// back through the API: model, tokens, messages, latency, time to first
// token, status, and the caller's trace joined.
func TestGatewayOpenAIClient(t *testing.T) {
	ctx := context.Background()
	up := clientUpstream(t)
	a, _ := startLogged(t, func(c *config.Config) {
		c.Gateways = []config.Gateway{{Name: "openai", Kind: "openai", Upstream: up.URL, Service: "chat-app", Deployment: "prod"}}
	})
	key := callerKey()
	client := openai.NewClient(
		option.WithBaseURL("http://"+a.HTTPAddr()+"/gateway/openai/v1"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0), // a 429 or 500 must reach the test, once
	)
	// Each call joins a trace of the caller's, so that the test knows
	// which trace is which.
	withTrace := func(n int) (option.RequestOption, string, string) {
		h, tid, sid := traceParent(n)
		return option.WithHeader("traceparent", h), tid, sid
	}

	t.Run("chat", func(t *testing.T) {
		tp, tid, sid := withTrace(1)
		start := time.Now()
		res, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:       "gpt-4o-mini",
			Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You are a support agent."), openai.UserMessage(askChat)},
			Temperature: openai.Float(0.2),
		}, tp)
		if err != nil {
			t.Fatal(err)
		}
		if res.Choices[0].Message.Content != "Use the reset link." || res.Usage.TotalTokens != 17 {
			t.Errorf("the client got %q with %d tokens", res.Choices[0].Message.Content, res.Usage.TotalTokens)
		}
		r, _ := up.Last()
		if r.Header.Get("Authorization") != "Bearer "+key {
			t.Errorf("the upstream got Authorization %q, want the caller's", r.Header.Get("Authorization"))
		}
		if got := r.Header.Get("Traceparent"); !strings.HasPrefix(got, "00-"+tid+"-") || strings.Contains(got, sid) {
			t.Errorf("the upstream got traceparent %q, want trace %s under the gateway's span, not the caller's %s", got, tid, sid)
		}

		d := waitTrace(t, a, tid)
		// The exchange ended before it was recorded; the client may have
		// had the whole answer a little before the gateway noted its end.
		elapsed := time.Since(start)
		if d.Service != "chat-app" || d.Deployment != "prod" || d.Status == "error" || !strings.HasPrefix(d.Model, "gpt-4o-mini") ||
			int64Of(d.InputTokens) != 12 || int64Of(d.OutputTokens) != 5 || int64Of(d.TotalTokens) != 17 {
			t.Errorf("trace: service %q/%q, status %q, model %q, tokens %d/%d/%d; want chat-app/prod, not an error, gpt-4o-mini 12/5/17",
				d.Service, d.Deployment, d.Status, d.Model, int64Of(d.InputTokens), int64Of(d.OutputTokens), int64Of(d.TotalTokens))
		}
		if d.Question != askChat || d.Answer != "Use the reset link." {
			t.Errorf("question %q, answer %q", d.Question, d.Answer)
		}
		// The upstream waited 40ms before answering.
		if d.DurationMS < 40 || d.DurationMS > float64(elapsed.Milliseconds())+1 {
			t.Errorf("duration %vms, want between the upstream's 40ms delay and the %v until it was recorded", d.DurationMS, elapsed)
		}
		llm := spanOfKind(t, d, "llm")
		if llm.RequestModel != "gpt-4o-mini" || llm.ResponseModel != "gpt-4o-mini-2024-07-18" || llm.Provider == "" ||
			llm.Operation != "chat" || llm.OTelKind != "client" || strings.Join(llm.FinishReasons, ",") != "stop" {
			t.Errorf("llm span: request model %q, response model %q, provider %q, operation %q, otel kind %q, finish %v",
				llm.RequestModel, llm.ResponseModel, llm.Provider, llm.Operation, llm.OTelKind, llm.FinishReasons)
		}
		if in := messageText(llm.InputMessages); !strings.Contains(in, "user: "+askChat) || !strings.Contains(in+llm.SystemPrompt, "You are a support agent.") {
			t.Errorf("input messages %q, system prompt %q", in, llm.SystemPrompt)
		}
		if out := messageText(llm.OutputMessages); out != "assistant: Use the reset link.\n" {
			t.Errorf("output messages %q", out)
		}
		if llm.TTFTMS != nil {
			t.Errorf("ttft %v on an answer that was not streamed", *llm.TTFTMS)
		}
		if v, ok := llm.ModelParams["temperature"]; !ok || v != 0.2 {
			t.Errorf("model params %v, want temperature 0.2", llm.ModelParams)
		}
		srv := spanOfKindOTel(t, d, "server")
		if srv.ParentSpanID != sid || srv.Status == "error" {
			t.Errorf("server span: parent %q status %q, want the caller's span %s, not an error", srv.ParentSpanID, srv.Status, sid)
		}
	})

	t.Run("chat stream", func(t *testing.T) {
		tp, tid, _ := withTrace(2)
		start := time.Now()
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "gpt-4o-mini",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(askStream)},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		}, tp)
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "Open your profile and edit the address." || acc.Usage.TotalTokens != 29 || chunks < 5 {
			t.Fatalf("the client assembled %+v from %d chunks", acc.ChatCompletion, chunks)
		}
		d := waitTrace(t, a, tid)
		elapsed := time.Since(start)
		if d.Status == "error" || int64Of(d.InputTokens) != 21 || int64Of(d.OutputTokens) != 8 || int64Of(d.CachedTokens) != 4 ||
			d.Question != askStream || d.Answer != "Open your profile and edit the address." {
			t.Errorf("trace: status %q, tokens %d/%d cached %d, question %q, answer %q", d.Status,
				int64Of(d.InputTokens), int64Of(d.OutputTokens), int64Of(d.CachedTokens), d.Question, d.Answer)
		}
		llm := spanOfKind(t, d, "llm")
		// The upstream waited 30ms before its first byte.
		if llm.TTFTMS == nil || *llm.TTFTMS < 30 || *llm.TTFTMS > llm.DurationMS || llm.DurationMS > float64(elapsed.Milliseconds())+1 {
			t.Errorf("ttft %v, duration %vms (recorded after %v), want 30ms <= ttft <= duration <= the time until recorded", deref64(llm.TTFTMS), llm.DurationMS, elapsed)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		tp, tid, _ := withTrace(3)
		res, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: "text-embedding-3-small",
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"reset password", "change e-mail"}},
		}, tp)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Data) != 2 || len(res.Data[0].Embedding) != 8 || res.Usage.PromptTokens != 9 {
			t.Fatalf("the client got %d vectors of %d, %d tokens", len(res.Data), len(res.Data[0].Embedding), res.Usage.PromptTokens)
		}
		d := waitTrace(t, a, tid)
		emb := spanOfKind(t, d, "embedding")
		if d.Status == "error" || emb.Model != "text-embedding-3-small" || emb.Operation != "embeddings" || int64Of(emb.InputTokens) != 9 {
			t.Errorf("trace status %q; embedding span model %q, operation %q, input tokens %d", d.Status, emb.Model, emb.Operation, int64Of(emb.InputTokens))
		}
	})

	t.Run("responses", func(t *testing.T) {
		tp, tid, _ := withTrace(4)
		res, err := client.Responses.New(ctx, responses.ResponseNewParams{
			Model:        "gpt-4.1",
			Instructions: openai.String("Answer in one sentence."),
			Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String(askResponses)},
		}, tp)
		if err != nil {
			t.Fatal(err)
		}
		if res.OutputText() != "Under Billing, then Invoices." || res.Usage.TotalTokens != 36 {
			t.Fatalf("the client got %q, %d tokens", res.OutputText(), res.Usage.TotalTokens)
		}
		checkResponsesTrace(t, waitTrace(t, a, tid), askResponses)
	})

	t.Run("responses stream", func(t *testing.T) {
		tp, tid, _ := withTrace(5)
		stream := client.Responses.NewStreaming(ctx, responses.ResponseNewParams{
			Model:        "gpt-4.1",
			Instructions: openai.String("Answer in one sentence."),
			Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String(askRespSSE)},
		}, tp)
		var text strings.Builder
		var completed bool
		for stream.Next() {
			switch ev := stream.Current(); ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				completed = ev.Response.Usage.TotalTokens == 36
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != "Under Billing, then Invoices." || !completed {
			t.Fatalf("the client assembled %q, completed with usage: %v", text.String(), completed)
		}
		d := waitTrace(t, a, tid)
		checkResponsesTrace(t, d, askRespSSE)
		if llm := spanOfKind(t, d, "llm"); llm.TTFTMS == nil {
			t.Error("no time to first token on a streamed response")
		}
	})

	for _, tc := range []struct {
		name, ask string
		n, status int
		message   string
	}{
		{"429", askLimited, 6, http.StatusTooManyRequests, "Rate limit reached"},
		{"500", askBroken, 7, http.StatusInternalServerError, "The server had an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, tid, _ := withTrace(tc.n)
			var resp *http.Response
			_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tc.ask)},
			}, tp, option.WithResponseInto(&resp))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || !strings.Contains(apiErr.Message, tc.message) {
				t.Fatalf("the client got %v, want a %d error saying %q", err, tc.status, tc.message)
			}
			if tc.status == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "20" {
				t.Errorf("Retry-After %q, want the upstream's 20", resp.Header.Get("Retry-After"))
			}
			d := waitTrace(t, a, tid)
			llm := spanOfKind(t, d, "llm")
			if d.Status != "error" || d.ErrorType != fmt.Sprint(tc.status) || !strings.Contains(d.ErrorMessage, tc.message) ||
				llm.Status != "error" || llm.RequestModel != "gpt-4o-mini" {
				t.Errorf("trace: status %q, error type %q, message %q; llm span %q model %q; want an error %d saying %q",
					d.Status, d.ErrorType, d.ErrorMessage, llm.Status, llm.RequestModel, tc.status, tc.message)
			}
		})
	}

	// All of it is counted, by class of status.
	m := scrapeText(t, a)
	for _, want := range []string{
		`flowwatch_gateway_requests_total{code="2xx",gateway="openai"} 5`,
		`flowwatch_gateway_requests_total{code="4xx",gateway="openai"} 1`,
		`flowwatch_gateway_requests_total{code="5xx",gateway="openai"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "flowwatch_gateway_"))
		}
	}
}

// checkResponsesTrace checks a Responses API call's trace.
func checkResponsesTrace(t *testing.T, d api.TraceDetail, question string) {
	t.Helper()
	llm := spanOfKind(t, d, "llm")
	if d.Status == "error" || int64Of(d.InputTokens) != 30 || int64Of(d.OutputTokens) != 6 || int64Of(d.ReasoningTokens) != 2 ||
		llm.RequestModel != "gpt-4.1" || llm.ResponseModel != "gpt-4.1-2025-04-14" {
		t.Errorf("trace: status %q, tokens %d/%d reasoning %d, models %q/%q", d.Status, int64Of(d.InputTokens),
			int64Of(d.OutputTokens), int64Of(d.ReasoningTokens), llm.RequestModel, llm.ResponseModel)
	}
	if d.Question != question || d.Answer != "Under Billing, then Invoices." {
		t.Errorf("question %q, answer %q", d.Question, d.Answer)
	}
	if !strings.Contains(llm.SystemPrompt+messageText(llm.InputMessages), "Answer in one sentence.") {
		t.Errorf("the instructions are not recorded: system prompt %q, input %q", llm.SystemPrompt, messageText(llm.InputMessages))
	}
}

// spanOfKindOTel returns the trace's only span of OTLP kind k.
func spanOfKindOTel(t *testing.T, d api.TraceDetail, k string) api.Span {
	t.Helper()
	var found []api.Span
	for _, s := range d.Spans {
		if s.OTelKind == k {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("trace %s: %d spans of OTLP kind %s, want 1", d.TraceID, len(found), k)
	}
	return found[0]
}

func deref64(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
