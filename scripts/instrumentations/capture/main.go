// Command capture records the OTLP requests that real LLM instrumentation
// libraries send, for the corpus under internal/app/testdata/instrumentations.
//
// It is a by-hand tool driven by scripts/instrumentations/capture.sh and is
// never run by CI. One process serves three things:
//
//   - an OTLP/HTTP capture endpoint that accepts a POST at any path and stores
//     the body exactly as received (compressed bodies stay compressed);
//   - an OTLP/gRPC capture endpoint that stores the exact protobuf message of
//     every TraceService/Export and LogsService/Export call (MetricsService is
//     answered and discarded);
//   - a deterministic fake of the OpenAI chat completions and embeddings API.
//
// The scenario scripts label what they are about to send with small control
// calls on the HTTP endpoint (POST /_capture/library, /_capture/begin,
// /_capture/end); every captured request is written under
// <out>/<library-dir>/ with a requests.json describing it.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed gRPC messages
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
)

const maxBody = 32 << 20

func main() {
	out := flag.String("out", "", "corpus directory (one sub-directory per library)")
	httpAddr := flag.String("http", "127.0.0.1:0", "listen address of the OTLP/HTTP capture endpoint (and the control calls)")
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "listen address of the OTLP/gRPC capture endpoint")
	openaiAddr := flag.String("openai", "127.0.0.1:0", "listen address of the fake OpenAI API")
	readyFile := flag.String("ready-file", "", "write KEY=VALUE lines with the endpoint URLs here once listening")
	flag.Parse()
	if *out == "" {
		log.Fatal("capture: -out is required")
	}
	log.SetPrefix("capture: ")
	log.SetFlags(0)

	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	rec := &recorder{out: *out, libs: map[string]*library{}}

	httpLn, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	grpcLn, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		log.Fatal(err)
	}
	openaiLn, err := net.Listen("tcp", *openaiAddr)
	if err != nil {
		log.Fatal(err)
	}

	httpSrv := &http.Server{Handler: rec.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	openaiSrv := &http.Server{Handler: fakeOpenAI(), ReadHeaderTimeout: 10 * time.Second}
	grpcSrv := grpc.NewServer(
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.UnknownServiceHandler(rec.grpcHandler),
	)

	go serveHTTP(httpSrv, httpLn)
	go serveHTTP(openaiSrv, openaiLn)
	go func() {
		if err := grpcSrv.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Fatal(err)
		}
	}()

	ready := fmt.Sprintf("CAPTURE_HTTP_URL=http://%s\nCAPTURE_GRPC_URL=http://%s\nFAKE_OPENAI_URL=http://%s/v1\n",
		httpLn.Addr(), grpcLn.Addr(), openaiLn.Addr())
	fmt.Print(ready)
	if *readyFile != "" {
		if err := writeFileAtomic(*readyFile, []byte(ready)); err != nil {
			log.Fatal(err)
		}
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = httpSrv.Shutdown(ctx)
	_ = openaiSrv.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { grpcSrv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		grpcSrv.Stop()
	}
	if code := rec.finish(); code != 0 {
		os.Exit(code)
	}
}

func serveHTTP(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// Recording

// request is one entry of requests.json.
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

// library is one corpus directory and its requests.json.
type library struct {
	Library      string            `json:"library"`
	Language     string            `json:"language"`
	Packages     map[string]string `json:"packages"`
	CapturedWith string            `json:"captured_with"`
	Requests     []request         `json:"requests"`

	dir    string
	counts map[string]int // "<scenario>.<slug>.<signal>" -> files so far
}

// label says which library and scenario the next requests belong to.
type label struct {
	Dir       string `json:"dir"`
	Scenario  string `json:"scenario"`
	Transport string `json:"transport"`
}

type recorder struct {
	out string

	mu         sync.Mutex
	libs       map[string]*library
	current    *label
	inLabel    int // requests stored since the last begin
	unlabeled  int
	mismatches int
	stored     int
	dropped    int
}

var dirName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

func (r *recorder) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_capture/library", r.handleLibrary)
	mux.HandleFunc("POST /_capture/begin", r.handleBegin)
	mux.HandleFunc("POST /_capture/end", r.handleEnd)
	mux.HandleFunc("/", r.handleOTLP)
	return mux
}

func (r *recorder) handleLibrary(w http.ResponseWriter, req *http.Request) {
	var in struct {
		Dir      string            `json:"dir"`
		Library  string            `json:"library"`
		Language string            `json:"language"`
		Packages map[string]string `json:"packages"`
	}
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil || !dirName.MatchString(in.Dir) {
		http.Error(w, "bad library call", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	lib, ok := r.libs[in.Dir]
	if !ok {
		// First time this run: start the directory afresh.
		dir := filepath.Join(r.out, in.Dir)
		if err := os.RemoveAll(dir); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		lib = &library{dir: dir, counts: map[string]int{}, Requests: []request{}}
		r.libs[in.Dir] = lib
	}
	lib.Library = in.Library
	lib.Language = in.Language
	if lib.Packages == nil {
		lib.Packages = map[string]string{}
	}
	for k, v := range in.Packages {
		lib.Packages[k] = v
	}
	lib.CapturedWith = "scripts/instrumentations/capture.sh"
	if err := lib.save(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

func (r *recorder) handleBegin(w http.ResponseWriter, req *http.Request) {
	var in label
	if err := json.NewDecoder(req.Body).Decode(&in); err != nil || in.Scenario == "" {
		http.Error(w, "bad begin call", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.libs[in.Dir]; !ok {
		http.Error(w, "unknown library dir "+in.Dir+": call /_capture/library first", http.StatusBadRequest)
		return
	}
	r.current = &in
	r.inLabel = 0
	log.Printf("begin %s %s (%s)", in.Dir, in.Scenario, in.Transport)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

func (r *recorder) handleEnd(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	n := r.inLabel
	if r.current != nil {
		log.Printf("end   %s %s (%s): %d request(s)", r.current.Dir, r.current.Scenario, r.current.Transport, n)
	}
	r.current = nil
	r.inLabel = 0
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"requests": n})
}

func (r *recorder) handleOTLP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	ct := req.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	isJSON := mt == "application/json"
	transport := "http/protobuf"
	if isJSON {
		transport = "http/json"
	}
	signal := signalFromPath(req.URL.Path)
	r.store(signal, transport, isJSON, request{
		Path:            req.URL.Path,
		ContentType:     ct,
		ContentEncoding: req.Header.Get("Content-Encoding"),
		UserAgent:       req.Header.Get("User-Agent"),
		AuthHeaders:     authHeaderNames(req.Header),
	}, body)

	if isJSON {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
		return
	}
	resp, err := emptyResponse(signal)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// grpcHandler answers every gRPC method: it is the UnknownServiceHandler, and
// with the raw codec it sees each request message as the exact bytes sent.
func (r *recorder) grpcHandler(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	var body []byte
	if err := stream.RecvMsg(&body); err != nil {
		return err
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	var names []string
	for k := range md {
		if isAuthHeader(k) {
			names = append(names, strings.ToLower(k))
		}
	}
	sort.Strings(names)
	if names == nil {
		names = []string{}
	}
	signal := "other"
	switch {
	case strings.HasPrefix(method, "/opentelemetry.proto.collector.trace.v1.TraceService/"):
		signal = "traces"
	case strings.HasPrefix(method, "/opentelemetry.proto.collector.logs.v1.LogsService/"):
		signal = "logs"
	case strings.HasPrefix(method, "/opentelemetry.proto.collector.metrics.v1.MetricsService/"):
		signal = "metrics"
	}
	// The message is stored after gRPC de-framing (and decompression, if the
	// client compressed it), so content_encoding is always empty here.
	r.store(signal, "grpc", false, request{
		Path:            method,
		ContentType:     first("content-type"),
		ContentEncoding: "",
		UserAgent:       first("user-agent"),
		AuthHeaders:     names,
	}, body)
	resp, err := emptyResponse(signal)
	if err != nil {
		return err
	}
	return stream.SendMsg(&resp)
}

func (r *recorder) store(signal, transport string, isJSON bool, meta request, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if signal == "metrics" {
		r.dropped++
		return
	}
	cur := r.current
	if cur == nil {
		r.unlabeled++
		log.Printf("WARNING: %s request to %s (%s, %d bytes) arrived outside any scenario; not stored", signal, meta.Path, transport, len(body))
		return
	}
	if cur.Transport != "" && cur.Transport != transport {
		r.mismatches++
		log.Printf("WARNING: scenario %s/%s expected transport %s but got %s on %s", cur.Dir, cur.Scenario, cur.Transport, transport, meta.Path)
	}
	lib := r.libs[cur.Dir]
	slug := strings.ReplaceAll(transport, "/", "-")
	ext := "pb"
	if isJSON {
		ext = "json"
	}
	key := cur.Scenario + "." + slug + "." + signal
	lib.counts[key]++
	name := fmt.Sprintf("%s.%s.%d.%s.%s", cur.Scenario, slug, lib.counts[key], signal, ext)
	if err := os.WriteFile(filepath.Join(lib.dir, name), body, 0o644); err != nil {
		log.Printf("ERROR: writing %s: %v", name, err)
		return
	}
	meta.File = name
	meta.Scenario = cur.Scenario
	meta.Transport = transport
	meta.Signal = signal
	lib.Requests = append(lib.Requests, meta)
	if err := lib.save(); err != nil {
		log.Printf("ERROR: writing requests.json of %s: %v", cur.Dir, err)
	}
	r.inLabel++
	r.stored++
	log.Printf("stored %s/%s (%d bytes)", cur.Dir, name, len(body))
}

// finish prints a summary and says how the process should exit.
func (r *recorder) finish() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	log.Printf("stopped: %d request(s) stored, %d metrics request(s) dropped, %d outside any scenario, %d with an unexpected transport",
		r.stored, r.dropped, r.unlabeled, r.mismatches)
	if r.unlabeled > 0 || r.mismatches > 0 {
		return 3
	}
	return 0
}

func (l *library) save() error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(l.dir, "requests.json"), append(b, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func signalFromPath(p string) string {
	switch {
	case strings.HasSuffix(p, "/v1/traces"):
		return "traces"
	case strings.HasSuffix(p, "/v1/logs"):
		return "logs"
	case strings.HasSuffix(p, "/v1/metrics"):
		return "metrics"
	}
	return "other"
}

func isAuthHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "x-api-key", "api-key":
		return true
	}
	return strings.HasPrefix(n, "x-langfuse-") ||
		strings.Contains(n, "token") || strings.Contains(n, "secret") || strings.Contains(n, "apikey")
}

func authHeaderNames(h http.Header) []string {
	names := []string{}
	for k := range h {
		if isAuthHeader(k) {
			names = append(names, strings.ToLower(k))
		}
	}
	sort.Strings(names)
	return names
}

// emptyResponse is the protobuf encoding of an empty Export*ServiceResponse.
func emptyResponse(signal string) ([]byte, error) {
	switch signal {
	case "logs":
		return plogotlp.NewExportResponse().MarshalProto()
	case "metrics":
		return pmetricotlp.NewExportResponse().MarshalProto()
	default:
		return ptraceotlp.NewExportResponse().MarshalProto()
	}
}

// rawCodec hands gRPC messages through as bytes, so the capture keeps exactly
// what the client serialized.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

var _ encoding.CodecV2 = rawCodec{}

// ---------------------------------------------------------------------------
// Fake OpenAI API

const (
	promptTokens     = 25
	completionTokens = 7
	createdAt        = 1735689600 // 2025-01-01T00:00:00Z, fixed so replies are deterministic
	embeddingDims    = 8
)

var snapshots = map[string]string{
	"gpt-4o-mini": "gpt-4o-mini-2024-07-18",
	"gpt-4o":      "gpt-4o-2024-08-06",
}

func fakeOpenAI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", chatCompletions)
	mux.HandleFunc("POST /v1/embeddings", embeddings)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		openAIError(w, http.StatusNotFound, "invalid_request_error", "unknown_url",
			fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
	})
	return mux
}

type chatRequest struct {
	Model         string            `json:"model"`
	Messages      []json.RawMessage `json:"messages"`
	Stream        bool              `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "could not parse the JSON body: "+err.Error())
		return
	}
	question := lastUserText(req.Messages)
	if containsWord(question, "FAIL") {
		openAIError(w, http.StatusInternalServerError, "server_error", "internal_error",
			"The server had an error while processing your request. (fake failure requested by FAIL)")
		return
	}
	model := req.Model
	if s, ok := snapshots[model]; ok {
		model = s
	}
	answer := "Answer to: " + question
	id := "chatcmpl-" + shortHash(req.Model, question, fmt.Sprint(req.Stream))
	usage := map[string]any{
		"prompt_tokens":     promptTokens,
		"completion_tokens": completionTokens,
		"total_tokens":      promptTokens + completionTokens,
	}

	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id":                 id,
			"object":             "chat.completion",
			"created":            createdAt,
			"model":              model,
			"system_fingerprint": "fp_corpus",
			"choices": []any{map[string]any{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": answer, "refusal": nil},
				"logprobs":      nil,
				"finish_reason": "stop",
			}},
			"usage": usage,
		})
		return
	}

	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher, _ := w.(http.Flusher)
	send := func(v any) {
		b, _ := json.Marshal(v)
		_, _ = fmt.Fprintf(w, "data: %s\n\n", b)
		if flusher != nil {
			flusher.Flush()
		}
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		c := map[string]any{
			"id":                 id,
			"object":             "chat.completion.chunk",
			"created":            createdAt,
			"model":              model,
			"system_fingerprint": "fp_corpus",
			"choices": []any{map[string]any{
				"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish,
			}},
		}
		if includeUsage {
			c["usage"] = nil
		}
		return c
	}
	time.Sleep(80 * time.Millisecond) // time to first token
	for i, part := range splitThree(answer) {
		delta := map[string]any{"content": part}
		if i == 0 {
			delta["role"] = "assistant"
		}
		send(chunk(delta, nil))
		time.Sleep(15 * time.Millisecond)
	}
	send(chunk(map[string]any{}, "stop"))
	if includeUsage {
		send(map[string]any{
			"id":                 id,
			"object":             "chat.completion.chunk",
			"created":            createdAt,
			"model":              model,
			"system_fingerprint": "fp_corpus",
			"choices":            []any{},
			"usage":              usage,
		})
	}
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
}

// lastUserText is the text of the last message with role "user"; its content
// is either a string or a list of parts of which the text parts are joined.
func lastUserText(messages []json.RawMessage) string {
	for i := len(messages) - 1; i >= 0; i-- {
		var m struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if json.Unmarshal(messages[i], &m) != nil || m.Role != "user" {
			continue
		}
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			return s
		}
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if json.Unmarshal(m.Content, &parts) == nil {
			var texts []string
			for _, p := range parts {
				if p.Type == "text" {
					texts = append(texts, p.Text)
				}
			}
			return strings.Join(texts, " ")
		}
		return ""
	}
	return ""
}

var wordRE = regexp.MustCompile(`[A-Za-z0-9_]+`)

func containsWord(text, word string) bool {
	for _, w := range wordRE.FindAllString(text, -1) {
		if w == word {
			return true
		}
	}
	return false
}

// splitThree cuts s into three non-empty parts of about equal length (on rune
// boundaries).
func splitThree(s string) []string {
	r := []rune(s)
	if len(r) < 3 {
		return []string{s, "", ""}
	}
	a, b := len(r)/3, 2*len(r)/3
	return []string{string(r[:a]), string(r[a:b]), string(r[b:])}
}

func shortHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])[:24]
}

func embeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "invalid_json", "could not parse the JSON body: "+err.Error())
		return
	}
	inputs := embeddingInputs(req.Input)
	if len(inputs) == 0 {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "invalid_input", "input must not be empty")
		return
	}
	data := make([]any, 0, len(inputs))
	for i, in := range inputs {
		vec := vectorFor(in)
		var embedding any = vec
		if req.EncodingFormat == "base64" {
			buf := new(bytes.Buffer)
			_ = binary.Write(buf, binary.LittleEndian, vec)
			embedding = base64.StdEncoding.EncodeToString(buf.Bytes())
		}
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": embedding})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  map[string]any{"prompt_tokens": 4, "total_tokens": 4},
	})
}

// embeddingInputs turns the input (a string, a list of strings, a token list
// or a list of token lists) into one key per embedding to return.
func embeddingInputs(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var n float64
	if len(list) > 0 && json.Unmarshal(list[0], &n) == nil {
		return []string{string(raw)} // one token list
	}
	out := make([]string, 0, len(list))
	for _, item := range list {
		out = append(out, string(item))
	}
	return out
}

// vectorFor is a deterministic unit vector derived from the input.
func vectorFor(in string) []float32 {
	h := sha256.Sum256([]byte(in))
	vec := make([]float32, embeddingDims)
	var norm float64
	for i := range vec {
		v := float64(int8(h[i]))/128 + 0.01
		vec[i] = float32(v)
		norm += v * v
	}
	norm = math.Sqrt(norm)
	for i := range vec {
		vec[i] = float32(math.Round(float64(vec[i])/norm*1e6) / 1e6)
	}
	return vec
}

func openAIError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code},
	})
}
