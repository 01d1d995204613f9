package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/flowwatch/flowwatch/internal/ingest"
)

// sink is a Consumer that keeps what it is given. fail, when set, decides
// each call's error from its number (1, 2, ...); block makes calls wait for
// their context.
type sink struct {
	mu     sync.Mutex
	calls  int
	traces []ptrace.Traces
	fail   func(call int) error
	block  bool
}

func (s *sink) ConsumeTraces(ctx context.Context, td ptrace.Traces) (ingest.Result, error) {
	s.mu.Lock()
	s.calls++
	n, fail, block := s.calls, s.fail, s.block
	s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ingest.Result{}, fmt.Errorf("write: %w: %w", ingest.ErrUnavailable, ctx.Err())
	}
	if fail != nil {
		if err := fail(n); err != nil {
			return ingest.Result{}, err
		}
	}
	s.mu.Lock()
	s.traces = append(s.traces, td)
	s.mu.Unlock()
	return ingest.Result{}, nil
}

// servers returns the server spans received: one per exchange recorded.
func (s *sink) servers() []ptrace.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ptrace.Span
	for _, td := range s.traces {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if sp.Kind() == ptrace.SpanKindServer {
						out = append(out, sp)
					}
				}
			}
		}
	}
	return out
}

// json is everything received, as OTLP JSON.
func (s *sink) json(t *testing.T) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, td := range s.traces {
		raw, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
	}
	return b.String()
}

func (s *sink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// recorderGateway returns a recorder on c and a gateway to feed it
// exchanges by hand. Unless o says otherwise the recorder does not
// linger, so that what is queued is written as soon as synctest.Wait
// lets it.
func recorderGateway(t *testing.T, o RecorderOptions) (*Recorder, *Gateway) {
	t.Helper()
	if o.Linger == 0 {
		o.Linger = -1
	}
	r, err := NewRecorder(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Name: "test", Kind: KindOpenAI, Upstream: mustURL("http://127.0.0.1:9"), Recorder: r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r, g
}

// exchange is a finished exchange with a body of n bytes.
func exchange(n int) *Exchange {
	now := time.Now()
	return &Exchange{Gateway: "test", Method: "POST", Path: "/chat/completions", Status: 200,
		RequestBody: bytes.Repeat([]byte("q"), n), Start: now, End: now.Add(time.Millisecond),
		TraceID: [16]byte{1}, ServerSpanID: newSpanID(), ClientSpanID: newSpanID()}
}

func TestNewRecorderValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    RecorderOptions
		want string
	}{
		{"no consumer", RecorderOptions{}, "Consumer"},
		{"negative queue", RecorderOptions{Consumer: &sink{}, QueueBytes: -1}, "QueueBytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRecorder(tc.o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewRecorder = %v; want an error naming %s", err, tc.want)
			}
		})
	}
	reg := prometheus.NewRegistry()
	if _, err := NewRecorder(RecorderOptions{Consumer: &sink{}, Registerer: reg}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRecorder(RecorderOptions{Consumer: &sink{}, Registerer: reg}, nil); err == nil {
		t.Error("a second recorder registered the same metrics without error")
	}
}

// Over its budget the queue drops, counts, and never blocks.
func TestRecorderDropsOverBudget(t *testing.T) {
	x := exchange(1000)
	size := exchangeSize(x)
	r, g := recorderGateway(t, RecorderOptions{Consumer: &sink{}, QueueBytes: 2*size + size/2})
	for range 5 {
		r.Record(g, exchange(1000))
	}
	st := r.Stats()
	if st.Dropped != 3 || st.QueueBytes != 2*size {
		t.Errorf("stats = %+v; want 3 dropped and %d bytes queued", st, 2*size)
	}
	if n := testutil.ToFloat64(r.m.recordings.WithLabelValues("test", "dropped")); n != 3 {
		t.Errorf("recordings_total{result=dropped} = %v; want 3", n)
	}
	if n := testutil.ToFloat64(r.m.queueBytes); n != float64(2*size) {
		t.Errorf("queue_bytes = %v; want %d", n, 2*size)
	}
}

// Shutdown without Run writes what is queued, and then takes no more.
func TestRecorderShutdownFlushes(t *testing.T) {
	c := &sink{}
	r, g := recorderGateway(t, RecorderOptions{Consumer: c})
	for range 3 {
		r.Record(g, exchange(10))
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(c.servers()); n != 3 {
		t.Errorf("flushed %d exchanges; want 3", n)
	}
	if r.Record(g, exchange(10)) {
		t.Error("Record after Shutdown queued")
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
	if st := r.Stats(); st.Stored != 3 || st.Dropped != 1 || st.QueueBytes != 0 {
		t.Errorf("stats = %+v; want 3 stored, 1 dropped, nothing queued", st)
	}
	if err := r.Run(context.Background()); err != nil {
		t.Errorf("Run after Shutdown = %v; want nil at once", err)
	}
}

// TestRecorderLinger: exchanges arriving one by one within the linger go
// into one batch (one commit), written once the linger has passed.
func TestRecorderLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &sink{}
		r, g := recorderGateway(t, RecorderOptions{Consumer: c, Linger: 50 * time.Millisecond})
		ran := make(chan error)
		go func() { ran <- r.Run(t.Context()) }()
		for range 20 {
			r.Record(g, exchange(10))
			time.Sleep(time.Millisecond)
		}
		synctest.Wait()
		if n := len(c.servers()); n != 0 {
			t.Errorf("%d exchanges written within the linger; want none yet", n)
		}
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if n, calls := len(c.servers()), c.callCount(); n != 20 || calls != 1 {
			t.Errorf("after the linger: %d exchanges in %d batches; want 20 in 1", n, calls)
		}
		if err := r.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
	})
}

func TestRecorderRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &sink{}
		r, g := recorderGateway(t, RecorderOptions{Consumer: c})
		ran := make(chan error)
		go func() { ran <- r.Run(t.Context()) }()
		for range 700 { // more than a batch
			r.Record(g, exchange(10))
		}
		synctest.Wait()
		if n := len(c.servers()); n != 700 {
			t.Errorf("recorded %d exchanges; want 700", n)
		}
		if calls := c.callCount(); calls < 2 {
			t.Errorf("%d batches; want at least 2 for 700 exchanges", calls)
		}
		if n := testutil.ToFloat64(r.m.recordings.WithLabelValues("test", "stored")); n != 700 {
			t.Errorf("recordings_total{result=stored} = %v; want 700", n)
		}
		if err := r.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-ran; err != nil {
			t.Errorf("Run = %v", err)
		}
		if err := r.Run(t.Context()); err == nil {
			t.Error("second Run returned nil; want an error")
		}
	})
}

// A refused batch is retried with backoff; one refused for good, or
// refused for longer than the attempts allow, counts as failed.
func TestRecorderRetries(t *testing.T) {
	for _, tc := range []struct {
		name          string
		fail          func(call int) error
		calls         int
		stored, faild int64
	}{
		{"overloaded twice", func(n int) error {
			if n <= 2 {
				return fmt.Errorf("pipeline full: %w", ingest.ErrOverloaded)
			}
			return nil
		}, 3, 1, 0},
		{"unavailable for good", func(int) error {
			return fmt.Errorf("store closed: %w", ingest.ErrUnavailable)
		}, maxAttempts, 0, 1},
		{"internal error", func(int) error { return errors.New("disk I/O error") }, 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := &sink{fail: tc.fail}
				r, g := recorderGateway(t, RecorderOptions{Consumer: c})
				go r.Run(t.Context())
				r.Record(g, exchange(10))
				start := time.Now()
				// Waiting (fake) time lets the backoffs pass.
				for r.Stats().Stored+r.Stats().Failed == 0 {
					time.Sleep(time.Second)
				}
				st := r.Stats()
				if c.callCount() != tc.calls || st.Stored != tc.stored || st.Failed != tc.faild || st.QueueBytes != 0 {
					t.Errorf("%d calls, stats %+v; want %d calls, %d stored, %d failed, nothing queued",
						c.callCount(), st, tc.calls, tc.stored, tc.faild)
				}
				if tc.calls == maxAttempts && time.Since(start) > time.Minute {
					t.Errorf("gave up after %v; want well within a minute", time.Since(start))
				}
				r.Shutdown(t.Context())
			})
		})
	}
}

// A batch refused while the queue fills up is given up once the queue
// drops an exchange: the newest recordings matter more.
func TestRecorderGivesUpWhenQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &sink{fail: func(int) error { return ingest.ErrOverloaded }}
		size := exchangeSize(exchange(1000))
		r, g := recorderGateway(t, RecorderOptions{Consumer: c, QueueBytes: 3 * size})
		go r.Run(t.Context())
		r.Record(g, exchange(1000))
		synctest.Wait() // first attempt refused, backing off
		for range 3 {
			r.Record(g, exchange(1000))
		}
		if st := r.Stats(); st.Dropped != 1 {
			t.Fatalf("stats = %+v; want one dropped", st)
		}
		time.Sleep(minBackoff) // to the second attempt
		synctest.Wait()
		if st := r.Stats(); st.Failed != 1 {
			t.Errorf("stats = %+v after %d calls; want the first batch failed after its second attempt", st, c.callCount())
		}
		r.Shutdown(t.Context())
	})
}

// Shutdown gives up at its deadline and counts what is left as failed.
func TestRecorderShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &sink{block: true}
		r, g := recorderGateway(t, RecorderOptions{Consumer: c})
		for range 4 {
			r.Record(g, exchange(10))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		err := r.Shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "4 exchanges") {
			t.Errorf("Shutdown = %v; want 4 exchanges not recorded, deadline exceeded", err)
		}
		if st := r.Stats(); st.Failed != 4 || st.QueueBytes != 0 {
			t.Errorf("stats = %+v; want 4 failed, nothing queued", st)
		}
	})
}

// Shutdown while Run backs off: Run stops, Shutdown writes the batch.
func TestRecorderShutdownDuringRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &sink{fail: func(n int) error {
			if n == 1 {
				return ingest.ErrOverloaded
			}
			return nil
		}}
		r, g := recorderGateway(t, RecorderOptions{Consumer: c})
		ran := make(chan error)
		go func() { ran <- r.Run(t.Context()) }()
		r.Record(g, exchange(10))
		synctest.Wait()
		if err := r.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		<-ran
		if st := r.Stats(); st.Stored != 1 {
			t.Errorf("stats = %+v; want the batch stored by Shutdown", st)
		}
	})
}
