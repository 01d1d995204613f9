package apitest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/rollup"
	"github.com/flowwatch/flowwatch/internal/store"
)

// Rollups is an in-memory store.RollupReader holding the rows a set of
// observations makes at each of rollup.Resolutions(), built the way a
// store builds them (rollup.Delta). It answers like the port says (one
// kind and resolution, Start <= bucket < End, exact filters) in a fixed
// order, with copies of its points, and records every query it is asked.
type Rollups struct {
	rows map[int64][]rollup.Row // by resolution, sorted by key

	mu      sync.Mutex
	queries []store.RollupQuery
}

var _ store.RollupReader = (*Rollups)(nil)

// NewRollups returns a Rollups over the rows of observations.
func NewRollups(obs []rollup.Observation) *Rollups {
	r := &Rollups{rows: map[int64][]rollup.Row{}}
	for _, res := range rollup.Resolutions() {
		d := rollup.NewDelta(res)
		for _, o := range obs {
			d.Add(o)
		}
		rows := make([]rollup.Row, 0, len(d.Points))
		for k, p := range d.Points {
			rows = append(rows, rollup.Row{Key: k, Point: p})
		}
		slices.SortFunc(rows, func(a, b rollup.Row) int { return compareKeys(a.Key, b.Key) })
		r.rows[res] = rows
	}
	return r
}

func compareKeys(a, b rollup.Key) int {
	return cmp.Or(
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Bucket, b.Bucket),
		cmp.Compare(a.Service, b.Service),
		cmp.Compare(a.Deployment, b.Deployment),
		cmp.Compare(a.Model, b.Model),
		cmp.Compare(a.Status, b.Status),
	)
}

// Queries returns the queries Rollups was called with, in order.
func (r *Rollups) Queries() []store.RollupQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.RollupQuery(nil), r.queries...)
}

// Rollups implements store.RollupReader. A resolution it keeps no rows
// at is an error, as a backend would answer.
func (r *Rollups) Rollups(ctx context.Context, q store.RollupQuery) ([]rollup.Row, error) {
	r.mu.Lock()
	r.queries = append(r.queries, q)
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, ok := r.rows[q.Resolution]
	if !ok {
		return nil, fmt.Errorf("apitest: no rollups at resolution %ds", q.Resolution)
	}
	var out []rollup.Row
	for _, row := range rows {
		k := row.Key
		switch {
		case k.Kind != q.Kind,
			k.Bucket < q.Start || k.Bucket >= q.End,
			q.Service != "" && k.Service != q.Service,
			q.Deployment != "" && k.Deployment != q.Deployment,
			q.Model != "" && k.Model != q.Model:
			continue
		}
		p, err := clonePoint(row.Point)
		if err != nil {
			return nil, fmt.Errorf("apitest: row %+v: %w", k, err)
		}
		out = append(out, rollup.Row{Key: k, Point: p})
	}
	return out, nil
}

// clonePoint copies a point through its encoding, as a store reading it
// back would.
func clonePoint(p *rollup.Point) (*rollup.Point, error) {
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c := rollup.NewPoint()
	if err := c.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return c, nil
}

// Models of the rollup fixture.
const (
	// ChatModel is rag-app's chat model (priced).
	ChatModel = "gpt-4o"
	// EmbeddingModel is rag-app's embedding model (priced).
	EmbeddingModel = "text-embedding-3-small"
	// ReasoningModel is the staging deployment's model (priced).
	ReasoningModel = "o3-mini"
	// MiniModel failed once two hours before Now (priced).
	MiniModel = "gpt-4o-mini"
	// LocalModel is batch-scorer's model, which has no price.
	LocalModel = "llama-3.1-8b-local"
	// RerankModel reported no usage at all, so it is not unpriced.
	RerankModel = "custom-reranker"
)

// RollupFixture returns deterministic observations, mostly in the hour
// before Now:
//
//   - rag-app (deployment prod): a request every minute of the hour
//     (model ChatModel, 300 ms to 1.7 s, every tenth failed), each with a
//     priced ChatModel call, and an EmbeddingModel call every third
//     minute;
//   - rag-app (deployment staging): a request every five minutes, each
//     with one ReasoningModel call;
//   - batch-scorer (no deployment): a request every fifteen minutes, each
//     with one LocalModel call that reported tokens but has no price;
//   - docs-indexer (no deployment): a request without any model call every
//     twenty minutes;
//   - a failed rag-app request with a failed MiniModel call and a
//     RerankModel call without usage at 10:00-10:30, one staging request
//     26 hours back and one batch-scorer request 72 hours back;
//   - a rag-app request exactly at Now, which ranges ending at Now leave
//     out.
func RollupFixture() []rollup.Observation {
	now := Now()
	hourAgo := now.Add(-time.Hour)
	var obs []rollup.Observation
	add := func(o rollup.Observation) { obs = append(obs, o) }
	status := func(failed bool) model.Status {
		if failed {
			return model.StatusError
		}
		return model.StatusOK
	}
	for i := range 60 {
		t := hourAgo.Add(time.Duration(i)*time.Minute + time.Duration(i*7%50)*time.Second)
		// rag-app, prod.
		failed := i%10 == 7
		d := 300*time.Millisecond + time.Duration(i*37%29)*50*time.Millisecond
		add(rollup.Observation{
			Kind: rollup.Requests, Time: t, Service: "rag-app", Deployment: "prod",
			Model: ChatModel, Status: status(failed), Duration: d,
		})
		in, out := int64(100+3*i), int64(20+5*(i%7))
		var cached int64
		if i%4 == 0 {
			cached = 32
		}
		add(rollup.Observation{
			Kind: rollup.LLMCalls, Time: t.Add(50 * time.Millisecond), Service: "rag-app", Deployment: "prod",
			Model: ChatModel, Status: status(failed), Duration: d - 200*time.Millisecond,
			Usage: model.Usage{
				Known: true, InputTokens: in, OutputTokens: out, TotalTokens: in + out, CacheReadTokens: cached,
				CostUSD: (float64(in-cached)*2.5 + float64(cached)*1.25 + float64(out)*10) / 1e6, CostKnown: true,
			},
			Priced: true,
		})
		if i%3 == 0 {
			n := int64(8 + i)
			add(rollup.Observation{
				Kind: rollup.LLMCalls, Time: t.Add(10 * time.Millisecond), Service: "rag-app", Deployment: "prod",
				Model: EmbeddingModel, Status: model.StatusOK, Duration: 40 * time.Millisecond,
				Usage:  model.Usage{Known: true, InputTokens: n, TotalTokens: n, CostUSD: float64(n) * 0.02 / 1e6, CostKnown: true},
				Priced: true,
			})
		}
		// rag-app, staging.
		if i%5 == 2 {
			d := 2500*time.Millisecond + time.Duration(i)*10*time.Millisecond
			add(rollup.Observation{
				Kind: rollup.Requests, Time: t, Service: "rag-app", Deployment: "staging",
				Model: ReasoningModel, Status: model.StatusOK, Duration: d,
			})
			in, out := int64(1200), int64(80+i)
			add(rollup.Observation{
				Kind: rollup.LLMCalls, Time: t.Add(20 * time.Millisecond), Service: "rag-app", Deployment: "staging",
				Model: ReasoningModel, Status: model.StatusOK, Duration: d - 100*time.Millisecond,
				Usage: model.Usage{
					Known: true, InputTokens: in, OutputTokens: out, TotalTokens: in + out,
					CostUSD: (float64(in)*1.1 + float64(out)*4.4) / 1e6, CostKnown: true,
				},
				Priced: true,
			})
		}
		// batch-scorer: a model without a price.
		if i%15 == 4 {
			add(rollup.Observation{
				Kind: rollup.Requests, Time: t, Service: "batch-scorer",
				Model: LocalModel, Status: model.StatusOK, Duration: 8 * time.Second,
			})
			add(rollup.Observation{
				Kind: rollup.LLMCalls, Time: t.Add(time.Second), Service: "batch-scorer",
				Model: LocalModel, Status: model.StatusOK, Duration: 6 * time.Second,
				Usage: model.Usage{Known: true, InputTokens: 500, OutputTokens: 50},
			})
		}
		// docs-indexer: requests without model calls.
		if i%20 == 10 {
			add(rollup.Observation{
				Kind: rollup.Requests, Time: t, Service: "docs-indexer",
				Status: model.StatusOK, Duration: 12500 * time.Microsecond,
			})
		}
	}
	// Older data.
	tenAM := now.Add(-2 * time.Hour)
	add(rollup.Observation{
		Kind: rollup.Requests, Time: tenAM, Service: "rag-app", Deployment: "prod",
		Model: MiniModel, Status: model.StatusError, Duration: 30500 * time.Millisecond,
	})
	add(rollup.Observation{
		Kind: rollup.LLMCalls, Time: tenAM.Add(time.Millisecond), Service: "rag-app", Deployment: "prod",
		Model: MiniModel, Status: model.StatusError, Duration: 30399 * time.Millisecond,
		Usage:  model.Usage{Known: true, InputTokens: 50, TotalTokens: 50, CostUSD: 50 * 0.15 / 1e6, CostKnown: true},
		Priced: true,
	})
	add(rollup.Observation{
		Kind: rollup.LLMCalls, Time: tenAM.Add(30 * time.Minute), Service: "rag-app", Deployment: "prod",
		Model: RerankModel, Status: model.StatusOK, Duration: 120 * time.Millisecond,
	})
	add(rollup.Observation{
		Kind: rollup.Requests, Time: now.Add(-26 * time.Hour), Service: "rag-app", Deployment: "staging",
		Model: ReasoningModel, Status: model.StatusOK, Duration: 2500 * time.Millisecond,
	})
	add(rollup.Observation{
		Kind: rollup.LLMCalls, Time: now.Add(-26 * time.Hour), Service: "rag-app", Deployment: "staging",
		Model: ReasoningModel, Status: model.StatusOK, Duration: 2400 * time.Millisecond,
		Usage: model.Usage{
			Known: true, InputTokens: 1200, OutputTokens: 80, TotalTokens: 1280, ReasoningTokens: 40,
			CostUSD: 0.0042, CostKnown: true,
		},
		Priced: true,
	})
	add(rollup.Observation{
		Kind: rollup.Requests, Time: now.Add(-72 * time.Hour), Service: "batch-scorer",
		Status: model.StatusOK, Duration: 812 * time.Microsecond,
	})
	// Exactly at Now: outside every range that ends at Now.
	add(rollup.Observation{
		Kind: rollup.Requests, Time: now, Service: "rag-app", Deployment: "prod",
		Model: ChatModel, Status: model.StatusOK, Duration: 999 * time.Millisecond,
	})
	add(rollup.Observation{
		Kind: rollup.LLMCalls, Time: now, Service: "rag-app", Deployment: "prod",
		Model: ChatModel, Status: model.StatusOK, Duration: 900 * time.Millisecond,
		Usage:  model.Usage{Known: true, InputTokens: 1000, OutputTokens: 100, TotalTokens: 1100, CostUSD: 0.0035, CostKnown: true},
		Priced: true,
	})
	return obs
}
