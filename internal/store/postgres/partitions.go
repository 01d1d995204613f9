package postgres

// Spans, log records and evaluations (run_instances) are partitioned by day
// (declarative RANGE partitions on start_ns, time_ns and the run's
// created_ns), so that retention drops a day's partition instead of
// deleting its rows one by one. A write needs the partitions of its rows'
// days: ensurePartitions (spans and logs) and ensureInstancePartitions
// (a run's evaluations) create those missing (with the next day's, so that
// midnight does not find ingest waiting), before the write's transaction
// and in a short one of its own: creating a partition locks its parent
// table, which a long write transaction must not hold. Replicas creating
// the same partition at once are serialized by an advisory lock, and IF
// NOT EXISTS lets the second one find it made.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

const dayNS = int64(24 * time.Hour)

// partitioned are the tables partitioned by day, indexed by the constants
// below.
var partitioned = [...]string{"spans", "logs", "run_instances"}

const (
	spansTable = iota
	logsTable
	instancesTable
)

// instanceSlack is how long before a trace started a run judging it may
// have been created. Scheduled runs read windows that end before they are
// created, but a manual run's window may reach past its creation, a run is
// executed after it is created (later still when its lease ran out and
// another replica took it over), and the clocks of the apps that time
// traces and of the replica that times runs differ. Reads of a trace's
// evaluations look from this long before its start, and retention keeps
// this much more of them than of spans.
const instanceSlack = dayNS

// instancesSince is an SQL expression for the least created_ns of the
// evaluations of the traces that cond selects in traces: the earliest
// start among them less instanceSlack, or the least bigint when one of them
// has no summary (count is how many traces cond names; a trace deleted
// while its evaluations are not yet may have them in any partition).
func instancesSince(cond, count string) string {
	// A cast: the literal alone is numeric, and a bigint column compared
	// with a numeric is neither indexed nor pruned.
	lo := `'` + strconv.FormatInt(-1<<63, 10) + `'::bigint`
	slack := strconv.FormatInt(instanceSlack, 10)
	return `coalesce((SELECT CASE WHEN count(*) = ` + count + ` THEN greatest(min(start_ns), ` + lo + ` + ` + slack + `) - ` + slack +
		` END FROM traces WHERE ` + cond + `), ` + lo + `)`
}

// partitionName names the partition of table holding day (days since the
// Unix epoch): table_pYYYYMMDD, or table_nN for days before year 1000 or
// after 9999 (N the day number, m for minus).
func partitionName(table string, day int64) string {
	t := time.Unix(day*86400, 0).UTC()
	if y := t.Year(); y >= 1000 && y <= 9999 {
		return table + "_p" + t.Format("20060102")
	}
	if day < 0 {
		return table + "_nm" + strconv.FormatInt(-day, 10)
	}
	return table + "_n" + strconv.FormatInt(day, 10)
}

// dayOf returns the day (since the Unix epoch) of a time in nanoseconds.
func dayOf(ns int64) int64 {
	d := ns / dayNS
	if ns%dayNS < 0 {
		d--
	}
	return d
}

// partitionKey is a partition to make: a table of partitioned and a day.
type partitionKey struct {
	table int
	day   int64
}

// needPartitions records the partitions a row of table at ns needs: its
// day's and the next day's.
func needPartitions(need map[string]partitionKey, table int, ns int64) {
	d := dayOf(ns)
	for _, day := range []int64{d, d + 1} {
		if day > dayOf(1<<63-1) {
			continue
		}
		need[partitionName(partitioned[table], day)] = partitionKey{table, day}
	}
}

// ensurePartitions creates the partitions a prepared batch needs that this
// process does not know to exist.
func (s *Store) ensurePartitions(ctx context.Context, in *preparedBatch) error {
	need := map[string]partitionKey{}
	for _, ps := range in.spans {
		needPartitions(need, spansTable, ps.start)
	}
	for _, pl := range in.logs {
		needPartitions(need, logsTable, pl.time)
	}
	return s.createPartitions(ctx, need)
}

// ensureInstancePartitions creates the run_instances partitions of runs
// created at createdNS that this process does not know to exist.
func (s *Store) ensureInstancePartitions(ctx context.Context, createdNS ...int64) error {
	need := map[string]partitionKey{}
	for _, ns := range createdNS {
		needPartitions(need, instancesTable, ns)
	}
	return s.createPartitions(ctx, need)
}

// createPartitions creates the partitions of need that this process does
// not know to exist, in a transaction of its own.
func (s *Store) createPartitions(ctx context.Context, need map[string]partitionKey) error {
	c := &s.tr.parts
	c.mu.Lock()
	for name := range need {
		if c.known[name] {
			delete(need, name)
		}
	}
	c.mu.Unlock()
	if len(need) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Creating a partition waits for the parent's readers and writers;
		// rather than queue every query behind a long one, give up and let
		// the write fail (the exporter retries).
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, 0)`, partitionLockClass); err != nil {
			return err
		}
		for name, k := range need {
			table, day := partitioned[k.table], k.day
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+pgx.Identifier{name}.Sanitize()+
				` PARTITION OF `+table+` FOR VALUES FROM (`+dayBound(day)+`) TO (`+dayBound(day+1)+`)`); err != nil {
				return fmt.Errorf("create partition %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	c.mu.Lock()
	for name := range need {
		c.known[name] = true
	}
	c.mu.Unlock()
	return nil
}

// dayBound is the first nanosecond of a day as a partition bound; the
// days at the edges of what int64 holds reach MINVALUE and MAXVALUE.
func dayBound(day int64) string {
	switch {
	case day > dayOf(1<<63-1):
		return "MAXVALUE"
	case day <= dayOf(-1<<63):
		return "MINVALUE"
	}
	return strconv.FormatInt(day*dayNS, 10)
}

// forget drops what the cache knows (a partition may have been dropped).
func (c *partitionCache) forget() {
	c.mu.Lock()
	clear(c.known)
	c.mu.Unlock()
}

// DropPartitionsBefore drops the span and log partitions whose whole day
// ends at or before before, and the evaluation partitions whose day ends
// instanceSlack earlier, and returns how many it dropped: retention calls
// it with a time before which every trace has expired, so that old data
// goes as a file, not row by row. The evaluations dropped are those of runs
// created before before less the slack, hence of traces that started
// before before, which retention deletes anyway. The trace summaries,
// full-text entries and remaining evaluations of those traces are deleted
// by DeleteTraces as usual (which then finds their spans gone), the runs
// and their results by DeleteRuns. A span older than before whose trace
// started later (a clock running behind its root's) goes with its
// partition.
func (s *Store) DropPartitionsBefore(ctx context.Context, before time.Time) (int, error) {
	limit := before.UnixNano()
	dropped := 0
	for i, table := range partitioned {
		// A partition goes when the day after it is at most this one (in
		// days, which cannot overflow as nanoseconds can).
		through := dayOf(limit)
		if i == instancesTable {
			through -= instanceSlack / dayNS
		}
		rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass ORDER BY c.relname`, table)
		if err != nil {
			return dropped, fmt.Errorf("postgres: list partitions of %s: %w", table, s.mapErr(err))
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dropped, fmt.Errorf("postgres: list partitions of %s: %w", table, s.mapErr(err))
		}
		for _, name := range names {
			day, ok := partitionDay(table, name)
			if !ok || day+1 > through {
				continue
			}
			err := s.inTx(ctx, func(tx pgx.Tx) error {
				// As when creating: never queue the parent's readers and
				// writers behind this for long.
				if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, 0)`, partitionLockClass); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{name}.Sanitize())
				return err
			})
			if err != nil {
				return dropped, fmt.Errorf("postgres: drop partition %s: %w", name, err)
			}
			dropped++
		}
	}
	if dropped > 0 {
		s.tr.parts.forget()
		s.log.Info("partitions_dropped", "partitions", dropped, "before", before.UTC())
	}
	return dropped, nil
}

// partitionDay reads the day of a partition from its name (partitionName).
func partitionDay(table, name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, table+"_")
	if !ok || rest == "" {
		return 0, false
	}
	switch {
	case rest[0] == 'p':
		t, err := time.Parse("20060102", rest[1:])
		if err != nil {
			return 0, false
		}
		return t.Unix() / 86400, true
	case strings.HasPrefix(rest, "nm"):
		n, err := strconv.ParseInt(rest[2:], 10, 64)
		return -n, err == nil
	case rest[0] == 'n':
		n, err := strconv.ParseInt(rest[1:], 10, 64)
		return n, err == nil
	}
	return 0, false
}
