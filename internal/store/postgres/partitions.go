package postgres

// Spans and log records are partitioned by day (declarative RANGE
// partitions on start_ns and time_ns), so that retention drops a day's
// partition instead of deleting its rows one by one. A write needs the
// partitions of its rows' days: ensurePartitions creates those missing
// (with the next day's, so that midnight does not find ingest waiting),
// before the write's transaction and in a short one of its own: creating a
// partition locks its parent table, which a long write transaction must
// not hold. Replicas creating the same partition at once are serialized by
// an advisory lock, and IF NOT EXISTS lets the second one find it made.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

const dayNS = int64(24 * time.Hour)

// partitioned are the partitioned tables and what they are partitioned by.
var partitioned = [...]string{"spans", "logs"}

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

// ensurePartitions creates the partitions a prepared batch needs that this
// process does not know to exist.
func (s *Store) ensurePartitions(ctx context.Context, in *preparedBatch) error {
	need := map[string][2]int64{} // name -> table index, day
	add := func(table int, ns int64) {
		d := dayOf(ns)
		for _, day := range []int64{d, d + 1} {
			if day > dayOf(1<<63-1) {
				continue
			}
			name := partitionName(partitioned[table], day)
			need[name] = [2]int64{int64(table), day}
		}
	}
	for _, ps := range in.spans {
		add(0, ps.start)
	}
	for _, pl := range in.logs {
		add(1, pl.time)
	}
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
		for name, td := range need {
			table, day := partitioned[td[0]], td[1]
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
