package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
	"github.com/flowwatch/flowwatch/internal/store/postgres/pgtest"
	"github.com/flowwatch/flowwatch/internal/store/storetest"
)

// Two replicas (two Stores on one schema) writing the spans of the same
// traces at once: every span is stored once, and each summary, written
// last by whichever replica, covers every span of its trace.
func TestReplicasWriteOneTrace(t *testing.T) {
	dsn := pgtest.DSN(t)
	schema := pgtest.Schema(t, dsn)
	var replicas [2]*Store
	for i := range replicas {
		s, err := Open(context.Background(), Options{DSN: dsn, Schema: schema, Deriver: storetest.Deriver{}, MaxConns: 4}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		replicas[i] = s
	}
	const (
		traces  = 20
		spansOf = 12 // spans per trace, split over the replicas
	)
	base := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC) // the trace crosses midnight: two partitions
	span := func(tr, n int) model.Span {
		sp := model.Span{
			TraceID:            fmt.Sprintf("%032x", tr),
			SpanID:             fmt.Sprintf("%016x", tr*100+n),
			Name:               "step",
			StartTime:          base.Add(time.Duration(n) * 10 * time.Second),
			EndTime:            base.Add(time.Duration(n)*10*time.Second + time.Second),
			StatusCode:         model.StatusOK,
			ResourceAttributes: map[string]any{"service.name": "replicas"},
		}
		if n > 0 {
			sp.ParentSpanID = fmt.Sprintf("%016x", tr*100)
		}
		storetest.Deriver{}.DeriveSpan(&sp, nil)
		return sp
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var written, dups int
	errs := make(chan error, traces*spansOf*2)
	for r, s := range replicas {
		for n := 0; n < spansOf; n++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var batch []model.Span
				for tr := 1; tr <= traces; tr++ {
					batch = append(batch, span(tr, n))
					if (n+r)%3 == 0 { // some spans sent by both replicas
						batch = append(batch, span(tr, (n+1)%spansOf))
					}
				}
				res, err := s.WriteBatch(context.Background(), model.Batch{Spans: batch})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				written += res.SpansWritten
				dups += res.Duplicates
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if written != traces*spansOf {
		t.Errorf("%d spans written (%d duplicates), want %d", written, dups, traces*spansOf)
	}
	for _, s := range replicas {
		for tr := 1; tr <= traces; tr++ {
			d, err := s.GetTrace(context.Background(), fmt.Sprintf("%032x", tr))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Spans) != spansOf || d.Trace.SpanCount != spansOf {
				t.Errorf("trace %d: %d spans, summary counts %d; want %d", tr, len(d.Spans), d.Trace.SpanCount, spansOf)
			}
		}
		svc, err := s.ListServices(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(svc) != 1 || svc[0].TraceCount != traces {
			t.Errorf("services = %+v, want one with %d traces", svc, traces)
		}
		page, err := s.ListTraces(context.Background(), store.TraceQuery{Limit: store.MaxLimit})
		if err != nil || len(page.Traces) != traces {
			t.Errorf("ListTraces: %d traces, %v; want %d", len(page.Traces), err, traces)
		}
	}
}

func TestFTSQuery(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", ""},
		{"  ", ""},
		{"Alpha", "'alpha':*"},
		{`"foo" AND (bar*`, "'foo' & 'and' & 'bar':*"},
		{"CAFÉ crème", "'cafe' & 'creme':*"},
		{"apostrophe's", "'apostrophe' & 's':*"},
		{"Ελληνικά", "'ελληνικά':*"}, // diacritics of other scripts stay, as with unicode61
		{"it's\x00x", "'it' & 's' & 'x':*"},
	} {
		if got := ftsQuery(tc.text); got != tc.want {
			t.Errorf("ftsQuery(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	if got, want := ftsLexemes("Résumé writing résumé WRITING tips"), "resume tips writing"; got != want {
		t.Errorf("ftsLexemes = %q, want %q", got, want)
	}
}

func TestPartitionName(t *testing.T) {
	for _, tc := range []struct {
		ns   int64
		want string
	}{
		{0, "spans_p19700101"},
		{-1, "spans_p19691231"},
		{time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC).UnixNano(), "spans_p20260301"},
		{time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).UnixNano(), "spans_p20260302"},
	} {
		if got := partitionName("spans", dayOf(tc.ns)); got != tc.want {
			t.Errorf("partition of %d = %s, want %s", tc.ns, got, tc.want)
		}
	}
}
