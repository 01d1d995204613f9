package postgres

// Silences (schema: migrations/0005_alerts.sql): they mute a monitor's
// alerts for a while; a group flush hands those in force to its flush
// function, which records its messages as suppressed.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowwatch/flowwatch/internal/model"
	"github.com/flowwatch/flowwatch/internal/store"
)

const silenceColumns = `id, monitor, key, comment, created_ns, ends_at_ns, expired_ns`

func scanSilence(row pgx.Row) (model.Silence, error) {
	var x model.Silence
	var created, ends, expired int64
	if err := row.Scan(&x.ID, &x.Monitor, &x.Key, &x.Comment, &created, &ends, &expired); err != nil {
		return model.Silence{}, err
	}
	x.CreatedAt, x.EndsAt, x.ExpiredAt = epochTime(created), epochTime(ends), epochTime(expired)
	return x, nil
}

func collectSilences(rows pgx.Rows) ([]model.Silence, error) {
	return collectAlertRows(rows, scanSilence)
}

// silencesOf reads the silences of monitor in force at now, in tx, oldest
// first.
func silencesOf(ctx context.Context, tx pgx.Tx, monitor string, now time.Time) ([]model.Silence, error) {
	rows, err := tx.Query(ctx, `SELECT `+silenceColumns+` FROM silences WHERE monitor = $1 AND ends_at_ns > $2 AND created_ns <= $2
		ORDER BY created_ns, id`, monitor, epochNS(now))
	if err != nil {
		return nil, err
	}
	return collectSilences(rows)
}

// CreateSilence records a silence.
func (s *Store) CreateSilence(ctx context.Context, x model.Silence) (model.Silence, error) {
	switch {
	case x.Monitor == "":
		return model.Silence{}, errors.New("postgres: create silence: no monitor")
	case !x.EndsAt.After(x.CreatedAt):
		return model.Silence{}, fmt.Errorf("postgres: create silence of %s: it ends (%s) before it starts (%s)", x.Monitor, x.EndsAt, x.CreatedAt)
	}
	if x.ID == "" {
		x.ID = newTimeID(x.CreatedAt)
	}
	x.CreatedAt, x.EndsAt, x.ExpiredAt = x.CreatedAt.UTC(), x.EndsAt.UTC(), time.Time{}
	if s.closed.Load() {
		return model.Silence{}, store.ErrClosed
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO silences (`+silenceColumns+`) VALUES ($1, $2, $3, $4, $5, $6, 0)`,
		x.ID, x.Monitor, x.Key, x.Comment, epochNS(x.CreatedAt), epochNS(x.EndsAt)); err != nil {
		return model.Silence{}, fmt.Errorf("postgres: create silence of %s: %w", x.Monitor, s.mapErr(err))
	}
	return x, nil
}

// ListSilences returns silences, newest first, at most store.MaxLimit.
func (s *Store) ListSilences(ctx context.Context, q store.SilenceQuery) ([]model.Silence, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.ActiveAt.IsZero() {
		at := arg(epochNS(q.ActiveAt))
		where = append(where, `created_ns <= `+at+` AND ends_at_ns > `+at)
	}
	if q.Monitor != "" {
		where = append(where, `monitor = `+arg(q.Monitor))
	}
	query := `SELECT ` + silenceColumns + ` FROM silences`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_ns DESC, id DESC LIMIT ` + arg(store.MaxLimit)
	rows, err := s.rpool.Query(ctx, query, args...)
	if err != nil {
		return nil, s.alertErr("list silences", err)
	}
	out, err := collectSilences(rows)
	if err != nil {
		return nil, s.alertErr("list silences", err)
	}
	return out, nil
}

// ExpireSilence ends a silence early.
func (s *Store) ExpireSilence(ctx context.Context, id string, now time.Time) (model.Silence, error) {
	var out model.Silence
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		x, err := scanSilence(tx.QueryRow(ctx, `SELECT `+silenceColumns+` FROM silences WHERE id = $1 FOR UPDATE`, id))
		switch {
		case notFound(err):
			return store.ErrNotFound
		case err != nil:
			return err
		case !now.Before(x.EndsAt):
			return fmt.Errorf("it ended at %s: %w", x.EndsAt.Format(time.RFC3339), store.ErrConflict)
		}
		x.EndsAt, x.ExpiredAt = now.UTC(), now.UTC()
		if _, err := tx.Exec(ctx, `UPDATE silences SET ends_at_ns = $1, expired_ns = $2 WHERE id = $3`,
			epochNS(x.EndsAt), epochNS(x.ExpiredAt), id); err != nil {
			return err
		}
		out = x
		return nil
	})
	if err != nil {
		return model.Silence{}, fmt.Errorf("postgres: expire silence %s: %w", id, err)
	}
	return out, nil
}
