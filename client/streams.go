package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// Subscription is an explicit subscription to a Sync Stream. It is kept in
// the database, so it survives restarts, and sent with every sync request.
type Subscription struct {
	Stream     string
	Parameters map[string]any
	// Priority overrides the stream's priority when set.
	Priority *int
}

// Subscribe adds (or updates the priority of) a subscription to stream with
// params, and reconnects a running connection so it takes effect.
func (db *DB) Subscribe(ctx context.Context, stream string, params map[string]any, priority *int) error {
	if stream == "" {
		return fmt.Errorf("subscribe: empty stream name")
	}
	p, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("subscribe to %s: parameters: %w", stream, err)
	}
	var prio any
	if priority != nil {
		if *priority < 0 || *priority > 3 {
			return fmt.Errorf("subscribe to %s: priority %d is not in 0..3", stream, *priority)
		}
		prio = *priority
	}
	if err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO ps_stream_subscriptions (stream, parameters, override_priority) VALUES (?, ?, ?)
ON CONFLICT (stream, parameters) DO UPDATE SET override_priority = excluded.override_priority`, stream, string(p), prio)
		return err
	}); err != nil {
		return err
	}
	db.reconnect()
	return nil
}

// Unsubscribe removes the subscription to stream with params. Buckets only
// that subscription needed are removed by the service's next checkpoint.
func (db *DB) Unsubscribe(ctx context.Context, stream string, params map[string]any) error {
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	if err := db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM ps_stream_subscriptions WHERE stream = ? AND parameters = ?`, stream, string(p))
		return err
	}); err != nil {
		return err
	}
	db.reconnect()
	return nil
}

// Subscriptions lists the explicit subscriptions in the order they are sent
// (the index the service refers to as {"sub": i}).
func (db *DB) Subscriptions(ctx context.Context) ([]Subscription, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT stream, parameters, override_priority FROM ps_stream_subscriptions ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		var s Subscription
		var p string
		var prio *int64
		if err := rows.Scan(&s.Stream, &p, &prio); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(p), &s.Parameters); err != nil {
			return nil, fmt.Errorf("subscription %s: %w", s.Stream, err)
		}
		if prio != nil {
			v := int(*prio)
			s.Priority = &v
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
