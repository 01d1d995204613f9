package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flowwatch/flowwatch/internal/cli"
	"github.com/flowwatch/flowwatch/internal/judgetest"
	"github.com/flowwatch/flowwatch/internal/otlptest"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
)

// TestMain lets the replica tests start this test binary as the real
// flowwatch (FLOWWATCH_TEST_MAIN=1, as cmd/flowwatch's tests do): each
// replica is a process of its own, so SIGKILL is real, and nothing is
// built for it.
func TestMain(m *testing.M) {
	if os.Getenv("FLOWWATCH_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// cluster is flowwatch replicas sharing one PostgreSQL schema, each a
// `flowwatch serve` process with its own data directory and ports.
type cluster struct {
	dsn, schema string
	config      string // the config file every replica reads
	env         []string
	db          *pgx.Conn // the test's own connection, on the schema
}

// newCluster names a schema of the test's own (the replicas create it,
// all at once, when they start) and drops it at the end.
func newCluster(t *testing.T, dsn, configYAML string, env ...string) *cluster {
	t.Helper()
	c := &cluster{dsn: dsn, schema: pgtest.SchemaName(t, dsn), env: env}
	dir := t.TempDir()
	c.config = filepath.Join(dir, "flowwatch.yaml")
	yaml := fmt.Sprintf("storage:\n  postgres:\n    schema: %s\n%s", c.schema, configYAML)
	if err := os.WriteFile(c.config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// query runs a one-value query on the cluster's schema.
func (c *cluster) query(t *testing.T, sql string, v any) {
	t.Helper()
	if err := c.conn(t).QueryRow(context.Background(), sql).Scan(v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// conn is the test's own connection to the cluster's schema.
func (c *cluster) conn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	if c.db == nil {
		cfg, err := pgx.ParseConfig(c.dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["search_path"] = c.schema
		if c.db, err = pgx.ConnectConfig(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.db.Close(context.Background()) })
	}
	return c.db
}

var replicaListening = regexp.MustCompile(`listening: http://(\S+) \(OTLP/HTTP, API\), (\S+) \(OTLP/gRPC\)`)

// replica is one running flowwatch process.
type replica struct {
	name       string
	cmd        *exec.Cmd
	http, grpc string
	log        *syncBuffer   // its stderr (its logs)
	listening  chan struct{} // closed when it listens (http and grpc are set)
	exited     chan struct{} // closed when the process has exited
	waitErr    error         // how it exited, once exited is closed
}

// startReplicas starts a replica per name, all at once, and returns them
// listening. Each one's judge API key is its name, so the judge knows
// which replica asked.
func (c *cluster) startReplicas(t *testing.T, names ...string) []*replica {
	t.Helper()
	rs := make([]*replica, len(names))
	for i, name := range names {
		rs[i] = c.spawn(t, name)
	}
	for _, r := range rs {
		r.waitListening(t)
	}
	return rs
}

// spawn starts one replica. Its logs are shown when the test fails, or
// always with FW_REPLICA_LOGS=1.
func (c *cluster) spawn(t *testing.T, name string) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", c.config, "--data", t.TempDir(),
		"--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0", "--log-level", "info")
	cmd.Env = append(os.Environ(), append([]string{"FLOWWATCH_TEST_MAIN=1", "FLOWWATCH_POSTGRES_DSN=" + c.dsn,
		"FW_REPLICA_KEY=" + name}, c.env...)...)
	r := &replica{name: name, cmd: cmd, log: &syncBuffer{}, listening: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = r.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := replicaListening.FindStringSubmatch(sc.Text()); m != nil {
				addrs <- m[1:]
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { r.waitErr = cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.exited
		if t.Failed() || os.Getenv("FW_REPLICA_LOGS") != "" {
			t.Logf("replica %s logs:\n%s", r.name, r.log.String())
		}
	})
	go func() {
		select {
		case a := <-addrs:
			r.http, r.grpc = a[0], a[1]
			close(r.listening)
		case <-r.exited:
		}
	}()
	return r
}

func (r *replica) waitListening(t *testing.T) {
	t.Helper()
	select {
	case <-r.listening:
	case <-r.exited:
		t.Fatalf("replica %s exited before listening: %v\n%s", r.name, r.waitErr, r.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("replica %s did not listen within 30s:\n%s", r.name, r.log.String())
	}
}

// kill ends the replica with SIGKILL and waits for it to be gone.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.exited
}

// stop ends the replica with SIGTERM and checks that it shut down cleanly
// (under -race, a data race found in it makes it exit 66).
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("replica %s did not stop within 40 s of SIGTERM", r.name)
	}
	if r.waitErr != nil {
		t.Errorf("replica %s: exited with %v after SIGTERM", r.name, r.waitErr)
	}
}

// request makes a request to the replica's HTTP API and returns the
// status and the body.
func (r *replica) request(t *testing.T, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	return r.requestWith(t, "", method, path, contentType, body)
}

// requestWith is request with an API key ("": none).
func (r *replica) requestWith(t *testing.T, key, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.http+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("replica %s: %s %s: %v", r.name, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("replica %s: %s %s: %v", r.name, method, path, err)
	}
	return resp.StatusCode, b
}

// get reads path into v (when not nil) and returns the status.
func (r *replica) get(t *testing.T, path string, v any) int {
	t.Helper()
	code, b := r.request(t, http.MethodGet, path, "", "")
	if v != nil && code == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("replica %s: GET %s: %v", r.name, path, err)
		}
	}
	return code
}

// errorLines are the ERROR lines of the replica's logs, and the data
// races the race detector reported in it (under -race).
func (r *replica) errorLines() []string {
	var out []string
	for _, l := range strings.Split(r.log.String(), "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "WARNING: DATA RACE") {
			out = append(out, l)
		}
	}
	return out
}

// judgeLog is the scripted judge's record of who asked what: the replies
// given by question and by replica, and a hold that keeps requests about
// one service unanswered.
type judgeLog struct {
	mu        sync.Mutex
	answered  map[string]int            // replies by question (user text)
	asked     map[string]map[string]int // requests by service marker, by replica
	holdAfter map[string]int            // service marker -> replies before holding; absent: no hold
	score     int
}

func (j *judgeLog) reply(r judgetest.Request) judgetest.Reply {
	j.mu.Lock()
	defer j.mu.Unlock()
	from := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	text := r.UserText()
	marker := "rag"
	if strings.Contains(text, "batch question") {
		marker = "batch"
	}
	if j.asked[marker] == nil {
		j.asked[marker] = map[string]int{}
	}
	j.asked[marker][from]++
	if n, ok := j.holdAfter[marker]; ok {
		done := 0
		for q, c := range j.answered {
			if strings.Contains(q, "batch question") == (marker == "batch") {
				done += c
			}
		}
		if done >= n {
			return judgetest.Reply{Delay: time.Hour}
		}
	}
	j.answered[text]++
	return judgetest.FixedScores(map[string]int{"groundedness": j.score, "relevance": j.score})(r)
}

// count returns how many questions containing sub were answered, and
// those answered more than once.
func (j *judgeLog) count(sub string) (answered int, twice []string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for q, n := range j.answered {
		if !strings.Contains(q, sub) {
			continue
		}
		answered++
		if n != 1 {
			twice = append(twice, fmt.Sprintf("%q %d times", q, n))
		}
	}
	return answered, twice
}

// TestReplicasShareOnePostgres starts three flowwatch replicas at once on
// one PostgreSQL schema that does not exist yet (they create and migrate it
// together, and all apply the same monitors_dir), with a 4 s run lease.
// Then:
//   - OTLP traffic sent to all three (OTLP/HTTP, OTLP/HTTP gzip, gRPC) is
//     listed, every trace, by every replica;
//   - a monitor run started through one replica is judged exactly once per
//     trace (the judge counts its requests) by one replica, and reads the
//     same (run, instances, alerts) through all three; its alert firing,
//     then resolving, sends exactly one message per target (a real SMTP
//     server and a signed webhook receiver count them);
//   - SIGKILL to the replica executing a run (found by the API key its
//     judge requests carry) lets another take the run over when its lease
//     ends and finish it, in 2 attempts, with no trace judged twice;
//   - a fourth replica joins; a monitor's tick coming, every scheduler
//     finds it due at once, and one run is recorded and executed;
//   - the sweepers of every replica, running each second, delete traces
//     past their retention together;
//   - SIGKILL to a replica mid-ingest loses no trace any replica
//     acknowledged: each is read whole through every replica still
//     running;
//   - an API key created through one replica is required and accepted by
//     all, and once revoked through another, refused by all;
//
// and no replica logs an error (or, under -race, a data race), and the
// survivors stop cleanly on SIGTERM. Each delivery of a notification takes
// longer than the senders' poll, so a lease that did not hold would show
// as a message sent twice; the test takes about 20 s.
func TestReplicasShareOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	start := time.Now()
	phase := func(name string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), name) }

	jl := &judgeLog{answered: map[string]int{}, asked: map[string]map[string]int{}, holdAfter: map[string]int{}, score: 2}
	js := judgetest.New(t, judgetest.Options{Reply: jl.reply})
	// Each delivery takes longer than the senders' poll (1 s): while one
	// replica delivers a message, the others look at the outbox, and must
	// leave it to the one that holds it.
	const deliveryTime = 1500 * time.Millisecond
	box := &mailbox{}
	smtpPort := serveSMTP(t, slowBackend{box, deliveryTime}, nil)
	h := &hook{}
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(deliveryTime)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hooks.Close)

	monitorsDir := t.TempDir()
	writeFile(t, monitorsDir, "grounding.yaml", `name: grounding
target: {service: rag-app}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT1H}
judge: j
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
  relevance: {pass_score: 3, min_pass_rate: 0.7}
notify: {emails: [oncall@example.com], channels: [hooks]}
`)
	writeFile(t, monitorsDir, "batch.yaml", `name: batch
target: {service: batch-app}
schedule: {cron: "0 0 1 1 *"}
window: {lookback: PT2H}
judge: j
quality:
  groundedness: {pass_score: 3, min_pass_rate: 0.7}
`)
	c := newCluster(t, dsn, fmt.Sprintf(`monitors_dir: %s
monitors:
  run_lease: 4s
http:
  public_url: https://flowwatch.example.com
judges:
  j: {type: openai, base_url: %q, model: judge-model, api_key_env: FW_REPLICA_KEY, max_concurrency: 4}
smtp: {host: 127.0.0.1, port: %d, tls: none, from: flowwatch@example.com}
channels:
  hooks: {type: webhook, url: %q, secret_env: FW_TEST_HOOK_SECRET}
retention:
  interval: 1s
  services: {old-app: 1h}
`, monitorsDir, js.BaseURL(), smtpPort, hooks.URL), "FW_TEST_HOOK_SECRET=s3cret")

	rs := c.startReplicas(t, "r0", "r1", "r2")
	phase("three replicas listening")
	var schemaMigrations int
	c.query(t, `SELECT count(*) FROM flowwatch_migrations`, &schemaMigrations)
	for _, r := range rs {
		var m struct {
			Monitors []struct {
				Name string `json:"name"`
			} `json:"monitors"`
		}
		if code := r.get(t, "/api/v1/monitors", &m); code != http.StatusOK || len(m.Monitors) != 2 {
			t.Fatalf("replica %s lists monitors %+v (%d), want grounding and batch", r.name, m.Monitors, code)
		}
	}

	// OTLP traffic to every replica, over each way in.
	base := time.Now().UTC().Add(-30 * time.Minute)
	var ragIDs []string
	for i, r := range rs {
		var spans tracetest.SpanStubs
		for k := range 4 {
			q := otlptest.RAG{Service: "rag-app", Question: fmt.Sprintf("rag question %d from %s?", k, r.name), Answer: "It ships tomorrow.",
				Documents: []string{"Orders ship within two days."}, Model: "gpt-4o", InputTokens: 100, OutputTokens: 20,
				Start: base.Add(time.Duration(4*i+k) * time.Minute)}
			s := q.Spans()
			ragIDs = append(ragIDs, s[0].SpanContext.TraceID().String())
			spans = append(spans, s...)
		}
		var err error
		switch i {
		case 0:
			err = otlptest.ExportHTTP(ctx, r.http, spans, false)
		case 1:
			err = otlptest.ExportGRPC(ctx, r.grpc, spans)
		default:
			err = otlptest.ExportHTTP(ctx, r.http, spans, true)
		}
		if err != nil {
			t.Fatalf("export to %s: %v", r.name, err)
		}
	}
	slices.Sort(ragIDs)
	// Traces past their service's retention: the three replicas' sweepers
	// (every second) delete them together.
	for i, r := range rs {
		q := otlptest.RAG{Service: "old-app", Question: fmt.Sprintf("old question %d?", i), Answer: "old",
			Model: "gpt-4o", Start: time.Now().Add(-3 * time.Hour)}
		if err := otlptest.ExportHTTP(ctx, r.http, q.Spans(), false); err != nil {
			t.Fatalf("export to %s: %v", r.name, err)
		}
	}
	for _, r := range rs {
		if got := listTraceIDs(t, r, "rag-app"); !slices.Equal(got, ragIDs) {
			t.Errorf("replica %s lists %d traces %v, want the %d sent to all: %v", r.name, len(got), got, len(ragIDs), ragIDs)
		}
	}
	phase("every replica lists every trace")

	// A run started through r0 fires both alerts: judged once per trace,
	// the same through every replica, one message per target.
	runOnce := func(via *replica, monitor, body string) string {
		t.Helper()
		ct := ""
		if body != "" {
			ct = "application/json"
		}
		code, b := via.request(t, http.MethodPost, "/api/v1/monitors/"+monitor+"/runs", ct, body)
		if code != http.StatusAccepted {
			t.Fatalf("POST run of %s through %s: %d %s", monitor, via.name, code, b)
		}
		var created struct {
			Run runWire `json:"run"`
		}
		if err := json.Unmarshal(b, &created); err != nil {
			t.Fatal(err)
		}
		return created.Run.ID
	}
	firing := runOnce(rs[0], "grounding", "")
	firstEnd := waitReplicaRun(t, rs[1], firing, 1)
	if n, twice := jl.count("rag question"); n != len(ragIDs) || len(twice) > 0 {
		t.Errorf("the judge answered %d of %d traces; answered more than once: %v", n, len(ragIDs), twice)
	}
	if from := jl.askedBy("rag"); len(from) != 1 {
		t.Errorf("judge requests of one run came from replicas %v, want one", from)
	}
	sameThroughAll(t, rs, "/api/v1/runs/"+firing, "/api/v1/runs/"+firing+"/instances?limit=100",
		"/api/v1/alerts?monitor=grounding", "/api/v1/monitors/grounding/runs")
	waitNotifications(t, box, h, 1)
	phase("run judged once, read the same through all, firing told once per target")

	// New traffic through r1, judged grounded in a window after the
	// first, run through r2: the alerts resolve, told once per target.
	jl.mu.Lock()
	jl.score = 5
	jl.mu.Unlock()
	endT, err := time.Parse(time.RFC3339Nano, firstEnd)
	if err != nil {
		t.Fatal(err)
	}
	var spans tracetest.SpanStubs
	for k := range 3 {
		q := otlptest.RAG{Service: "rag-app", Question: fmt.Sprintf("rag question %d, later?", k), Answer: "Yes, within 30 days.",
			Documents: []string{"Returns are accepted within 30 days."}, Model: "gpt-4o", Start: endT.Add(time.Duration(k+1) * time.Millisecond)}
		spans = append(spans, q.Spans()...)
	}
	if err := otlptest.ExportHTTP(ctx, rs[1].http, spans, false); err != nil {
		t.Fatal(err)
	}
	resolving := runOnce(rs[2], "grounding", fmt.Sprintf(`{"window_start": %q, "window_end": %q}`, firstEnd, endT.Add(time.Minute).Format(time.RFC3339Nano)))
	waitReplicaRun(t, rs[0], resolving, 1)
	if n, twice := jl.count("rag question"); n != len(ragIDs)+3 || len(twice) > 0 {
		t.Errorf("the judge answered %d of %d traces; answered more than once: %v", n, len(ragIDs)+3, twice)
	}
	waitNotifications(t, box, h, 2)
	checkAlertMessages(t, rs, box, h)
	sameThroughAll(t, rs, "/api/v1/runs/"+resolving, "/api/v1/alerts?monitor=grounding")
	phase("resolved told once per target")

	// SIGKILL to the replica executing a run, once 15 of its 40 verdicts
	// are stored: another takes the run over when the lease ends and
	// judges only the other 25.
	const batchTraces, before = 40, 15
	spans = nil
	bbase := time.Now().UTC().Add(-time.Hour)
	for i := range batchTraces {
		q := otlptest.RAG{Service: "batch-app", Question: fmt.Sprintf("batch question %d?", i), Answer: "an answer",
			Documents: []string{"a document"}, Model: "gpt-4o", Start: bbase.Add(time.Duration(i) * time.Second)}
		spans = append(spans, q.Spans()...)
	}
	if err := otlptest.ExportGRPC(ctx, rs[2].grpc, spans); err != nil {
		t.Fatal(err)
	}
	var cached int
	c.query(t, `SELECT count(*) FROM eval_cache`, &cached)
	jl.mu.Lock()
	jl.holdAfter["batch"] = before
	jl.mu.Unlock()
	batchRun := runOnce(rs[1], "batch", "")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		c.query(t, `SELECT count(*) FROM eval_cache`, &n)
		if n >= cached+before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d verdicts of the run in the cache after 30 s, want %d", n-cached, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	executors := jl.askedBy("batch")
	if len(executors) != 1 {
		t.Fatalf("judge requests of one run came from replicas %v, want one", executors)
	}
	var victim *replica
	for _, r := range rs {
		if r.name == executors[0] {
			victim = r
		}
	}
	victim.kill(t)
	killedAt := time.Now()
	jl.mu.Lock()
	delete(jl.holdAfter, "batch")
	jl.mu.Unlock()
	var alive []*replica
	for _, r := range rs {
		if r != victim {
			alive = append(alive, r)
		}
	}
	phase("killed " + victim.name + ", which was executing the run")
	waitReplicaRun(t, alive[0], batchRun, 2)
	t.Logf("run taken over and finished %.1fs after the kill (lease 4s)", time.Since(killedAt).Seconds())
	if n, twice := jl.count("batch question"); n != batchTraces || len(twice) > 0 {
		t.Errorf("the judge answered %d of %d traces; answered more than once: %v", n, batchTraces, twice)
	}
	if from := jl.askedBy("batch"); len(from) != 2 || !slices.Contains(from, victim.name) {
		t.Errorf("judge requests of the run came from replicas %v, want %s and then one other", from, victim.name)
	}
	sameThroughAll(t, alive, "/api/v1/runs/"+batchRun, "/api/v1/runs/"+batchRun+"/instances?limit=100")
	phase("run finished by another replica, no trace judged twice")

	// A fourth replica joins; every replica's scheduler finds the batch
	// monitor due at the same time: one run is recorded and executed (its
	// verdicts all come from the cache).
	joined := c.startReplicas(t, "r3")
	alive = append(alive, joined...)
	phase("r3 joined")
	scheduledRunOnce(t, c, alive, jl)
	phase("a due run scheduled once by three schedulers")
	for _, r := range alive {
		if ids := listTraceIDs(t, r, "old-app"); len(ids) != 0 {
			t.Errorf("replica %s still lists %d traces past their retention", r.name, len(ids))
		}
	}

	// SIGKILL to one replica mid-ingest loses no acknowledged trace.
	victim = alive[0]
	acked := ingestUntilKilled(t, alive, victim)
	alive = alive[1:]
	for _, r := range alive {
		missing := 0
		for id, n := range acked {
			var tr struct {
				Spans []json.RawMessage `json:"spans"`
			}
			if code := r.get(t, "/api/v1/traces/"+id, &tr); code != http.StatusOK || len(tr.Spans) != n {
				missing++
				if missing <= 5 {
					t.Errorf("replica %s: acknowledged trace %s: %d with %d spans, want %d", r.name, id, code, len(tr.Spans), n)
				}
			}
		}
		if missing > 0 {
			t.Errorf("replica %s: %d of %d acknowledged traces missing or incomplete", r.name, missing, len(acked))
		}
	}
	phase(fmt.Sprintf("killed %s mid-ingest: all %d acknowledged traces read whole through every survivor", victim.name, len(acked)))

	// An API key created through one replica is required and accepted by
	// every replica, and once revoked through another, refused by every
	// replica, each within the key cache's 2 s.
	keysAcrossReplicas(t, alive)
	phase("an API key created and revoked through different replicas holds on all")

	// No replica logged an error; the survivors stop cleanly.
	for _, r := range alive {
		r.stop(t)
	}
	for _, r := range append(rs, joined...) {
		if lines := r.errorLines(); len(lines) > 0 {
			t.Errorf("replica %s logged errors:\n%s", r.name, strings.Join(lines, "\n"))
		}
	}
	if schemaMigrations == 0 {
		t.Error("no migration recorded in the replicas' schema")
	}
	phase("survivors stopped")
}

// askedBy lists the replicas the judge had requests from about marker's
// service.
func (j *judgeLog) askedBy(marker string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for from := range j.asked[marker] {
		out = append(out, from)
	}
	slices.Sort(out)
	return out
}

// listTraceIDs lists every trace of service through r, following the
// cursor, sorted.
func listTraceIDs(t *testing.T, r *replica, service string) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for {
		var list traceList
		path := "/api/v1/traces?service=" + service + "&limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if code := r.get(t, path, &list); code != http.StatusOK {
			t.Fatalf("replica %s: list traces: %d", r.name, code)
		}
		for _, tr := range list.Traces {
			ids = append(ids, tr.TraceID)
		}
		if cursor = list.NextCursor; cursor == "" {
			break
		}
	}
	slices.Sort(ids)
	return ids
}

// waitReplicaRun waits, reading through r, for run id to end; it must
// succeed in attempts attempts. It returns the end of the run's window.
func waitReplicaRun(t *testing.T, r *replica, id string, attempts int) string {
	t.Helper()
	var run struct {
		restartRunWire
		WindowEnd string `json:"window_end"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for run.Status != "succeeded" && run.Status != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %q after 30 s (read through %s)", id, run.Status, r.name)
		}
		time.Sleep(50 * time.Millisecond)
		if code := r.get(t, "/api/v1/runs/"+id, &run); code != http.StatusOK {
			t.Fatalf("replica %s: GET run %s: %d", r.name, id, code)
		}
	}
	if run.Status != "succeeded" || run.Attempts != attempts {
		t.Fatalf("run %s: %s in %d attempts (%s), want succeeded in %d", id, run.Status, run.Attempts, run.Error, attempts)
	}
	return run.WindowEnd
}

// sameThroughAll checks that each path reads the same through every
// replica.
func sameThroughAll(t *testing.T, rs []*replica, paths ...string) {
	t.Helper()
	for _, p := range paths {
		var first []byte
		for i, r := range rs {
			code, b := r.request(t, http.MethodGet, p, "", "")
			if code != http.StatusOK {
				t.Errorf("replica %s: GET %s: %d %s", r.name, p, code, b)
				continue
			}
			if i == 0 {
				first = b
			} else if !bytes.Equal(b, first) {
				t.Errorf("GET %s differs between replicas %s and %s:\n%s\n%s", p, rs[0].name, r.name, first, b)
			}
		}
	}
}

// waitNotifications waits for n messages at each target, then for a
// while longer (three senders each look at the outbox every second), and
// checks that no more arrived.
func waitNotifications(t *testing.T, box *mailbox, h *hook, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(box.messages()) < n || len(h.received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %d e-mails and %d webhooks, want %d of each", len(box.messages()), len(h.received()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond)
	if m, w := len(box.messages()), len(h.received()); m != n || w != n {
		t.Errorf("%d e-mails and %d webhooks, want %d of each: a notification went out more than once", m, w, n)
	}
}

// checkAlertMessages checks what the targets received (firing then
// resolved, each once, grouping both alerts) and that every replica's
// alert history lists each message once, sent.
func checkAlertMessages(t *testing.T, rs []*replica, box *mailbox, h *hook) {
	t.Helper()
	var subjects []string
	for _, m := range box.messages() {
		s, _ := mailText(t, m)
		subjects = append(subjects, s)
	}
	if want := []string{"[FIRING:2] grounding", "[RESOLVED:2] grounding"}; !slices.Equal(subjects, want) {
		t.Errorf("e-mail subjects %q, want %q", subjects, want)
	}
	var events []string
	for _, p := range h.received() {
		events = append(events, fmt.Sprint(p["event"]))
	}
	if want := []string{"firing", "resolved"}; !slices.Equal(events, want) {
		t.Errorf("webhook events %q, want %q", events, want)
	}
	if len(h.bad) > 0 {
		t.Errorf("webhooks that did not verify: %v", h.bad)
	}
	for _, r := range rs {
		var alerts struct {
			Alerts []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"alerts"`
		}
		r.get(t, "/api/v1/alerts?monitor=grounding", &alerts)
		if len(alerts.Alerts) != 2 {
			t.Fatalf("replica %s: alerts %+v, want 2", r.name, alerts.Alerts)
		}
		for _, a := range alerts.Alerts {
			var one struct {
				Notifications []struct {
					Channel string `json:"channel"`
					Event   string `json:"event"`
					Status  string `json:"status"`
				} `json:"notifications"`
			}
			r.get(t, "/api/v1/alerts/"+a.ID, &one)
			var got []string
			for _, n := range one.Notifications {
				got = append(got, n.Channel+" "+n.Event+" "+n.Status)
			}
			slices.Sort(got)
			want := []string{"emails firing sent", "emails resolved sent", "hooks firing sent", "hooks resolved sent"}
			if a.State != "resolved" || !slices.Equal(got, want) {
				t.Errorf("replica %s: alert %s %s with notifications %q, want resolved with %q", r.name, a.ID, a.State, got, want)
			}
		}
	}
}

// ingestUntilKilled sends traces from six senders to every replica (two
// to victim, over OTLP/HTTP and gRPC), kills victim with SIGKILL once 60
// of its exports were acknowledged, and returns every trace acknowledged
// by any replica, with its span count.
func ingestUntilKilled(t *testing.T, rs []*replica, victim *replica) map[string]int {
	t.Helper()
	var (
		mu     sync.Mutex
		acked  = map[string]int{}
		byVict int
	)
	reached := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	type sender struct {
		r    *replica
		grpc bool
	}
	senders := []sender{{victim, false}, {victim, true}}
	for _, r := range rs {
		if r != victim {
			senders = append(senders, sender{r, false}, sender{r, true})
		}
	}
	for w, s := range senders {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				q := otlptest.RAG{Service: "crash-test", Question: fmt.Sprintf("question %d/%d", w, i), Answer: "answer",
					Documents: []string{"doc"}, Model: "gpt-4o", InputTokens: 10, OutputTokens: 5}
				spans := q.Spans()
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				var err error
				if s.grpc {
					err = otlptest.ExportGRPC(cctx, s.r.grpc, spans)
				} else {
					err = otlptest.ExportHTTP(cctx, s.r.http, spans, i%2 == 0)
				}
				cancel()
				if err != nil {
					if s.r == victim {
						return // killed
					}
					t.Errorf("export to %s (a survivor): %v", s.r.name, err)
					return
				}
				mu.Lock()
				acked[spans[0].SpanContext.TraceID().String()] = len(spans)
				if s.r == victim {
					if byVict++; byVict == 60 {
						close(reached)
					}
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Log("fewer than 60 exports to the victim acknowledged within 30 s; killing anyway")
	}
	victim.kill(t)
	// The survivors keep taking traffic a moment after the kill.
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if byVict == 0 {
		t.Fatal("no export to the victim was acknowledged before the kill")
	}
	t.Logf("%d traces acknowledged, %d of them by %s before its SIGKILL", len(acked), byVict, victim.name)
	return maps.Clone(acked)
}

// scheduledRunOnce makes the batch monitor due now (as if its tick had
// come) and checks that the replicas' schedulers record one run for the
// tick, executed once, asking the judge nothing (every verdict is cached).
func scheduledRunOnce(t *testing.T, c *cluster, rs []*replica, jl *judgeLog) {
	t.Helper()
	asked := func() int {
		jl.mu.Lock()
		defer jl.mu.Unlock()
		n := 0
		for _, c := range jl.asked["batch"] {
			n += c
		}
		return n
	}
	before := asked()
	tick := time.Now().Add(-time.Second)
	if _, err := c.conn(t).Exec(context.Background(), `UPDATE monitor_schedule SET next_ns = $1 WHERE monitor = 'batch'`, tick.UnixNano()); err != nil {
		t.Fatal(err)
	}
	type runsWire struct {
		Runs []struct {
			ID      string `json:"id"`
			Trigger string `json:"trigger"`
			Status  string `json:"status"`
		} `json:"runs"`
	}
	scheduled := func(r *replica) (ids []string, ended bool) {
		var list runsWire
		if code := r.get(t, "/api/v1/monitors/batch/runs", &list); code != http.StatusOK {
			t.Fatalf("replica %s: list runs: %d", r.name, code)
		}
		ended = true
		for _, run := range list.Runs {
			if run.Trigger == "schedule" {
				ids = append(ids, run.ID)
				ended = ended && (run.Status == "succeeded" || run.Status == "failed")
			}
		}
		return ids, ended
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ids, ended := scheduled(rs[0])
		if len(ids) > 0 && ended {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduled runs %v after 20 s, want one ended", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every scheduler has polled (each every second) since.
	time.Sleep(1500 * time.Millisecond)
	for _, r := range rs {
		if ids, _ := scheduled(r); len(ids) != 1 {
			t.Errorf("replica %s lists scheduled runs %v, want one", r.name, ids)
		}
	}
	ids, _ := scheduled(rs[0])
	waitReplicaRun(t, rs[len(rs)-1], ids[0], 1)
	if n := asked() - before; n != 0 {
		t.Errorf("the scheduled run asked the judge %d times, want 0 (every verdict is cached)", n)
	}
	var next int64
	c.query(t, `SELECT next_ns FROM monitor_schedule WHERE monitor = 'batch'`, &next)
	if !time.Unix(0, next).After(time.Now()) {
		t.Errorf("the batch monitor's next run is %s, want after now", time.Unix(0, next))
	}
}

// keysAcrossReplicas creates an API key through one replica and revokes
// it through another; each replica reads keys from the store at least
// every 2 s (auth.DefaultCacheTTL), so every one follows within that.
func keysAcrossReplicas(t *testing.T, rs []*replica) {
	t.Helper()
	code, body := rs[0].request(t, http.MethodPost, "/api/v1/keys", "application/json", `{"name": "ops", "scopes": ["read", "admin"]}`)
	if code != http.StatusCreated {
		t.Fatalf("create key through %s: %d %s", rs[0].name, code, body)
	}
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	const path = "/api/v1/traces?limit=1"
	for _, r := range rs {
		until(t, "replica "+r.name+" requires the key", func() bool {
			code, _ := r.requestWith(t, "", http.MethodGet, path, "", "")
			return code == http.StatusUnauthorized
		})
		if code, b := r.requestWith(t, created.Key, http.MethodGet, path, "", ""); code != http.StatusOK {
			t.Errorf("replica %s refuses the key created through %s: %d %s", r.name, rs[0].name, code, b)
		}
	}
	last := rs[len(rs)-1]
	if code, b := last.requestWith(t, created.Key, http.MethodDelete, "/api/v1/keys/"+created.ID, "", ""); code/100 != 2 {
		t.Fatalf("revoke key through %s: %d %s", last.name, code, b)
	}
	for _, r := range rs {
		until(t, "replica "+r.name+" refuses the revoked key", func() bool {
			code, _ := r.requestWith(t, created.Key, http.MethodGet, path, "", "")
			return code == http.StatusUnauthorized
		})
	}
}

// slowBackend is a mailbox whose every message takes delay to be taken.
type slowBackend struct {
	box   *mailbox
	delay time.Duration
}

func (b slowBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	inner, err := b.box.NewSession(c)
	return slowSession{inner, b.delay}, err
}

type slowSession struct {
	smtp.Session
	delay time.Duration
}

func (s slowSession) Data(r io.Reader) error {
	time.Sleep(s.delay)
	return s.Session.Data(r)
}
