package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestResultReadPlans checks that the result reads find their rows by the
// indexes of migration 0006 rather than by scanning a table.
func TestResultReadPlans(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "flowwatch.db"))
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"run results", runResultsQuery, []any{"m", int64(0), int64(1) << 62, 10}, "runs_monitor_window_end"},
		{"trace evaluations", traceEvaluationsQuery, []any{"4bf92f3577b34da6a3ce929d0e0e4736", 10}, "run_instances_trace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN `+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var b strings.Builder
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				b.WriteString(detail + "\n")
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			plan := b.String()
			if !strings.Contains(plan, tc.want) || strings.Contains(plan, "SCAN ") {
				t.Errorf("plan:\n%s\nwant a search by %s and no table scan", plan, tc.want)
			}
		})
	}
}
