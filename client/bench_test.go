package client_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
)

// BenchmarkInitialSync measures one client downloading, validating and
// applying 10,000 or 100,000 todos (≈ 380 bytes each on the wire) from an
// in-process powersync dev into a fresh SQLite file. One op is one synced
// row.
func BenchmarkInitialSync(b *testing.B) {
	for _, rows := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) { benchInitialSync(b, rows) })
	}
}

func benchInitialSync(b *testing.B, rows int) {
	d := startDevB(b)
	tx, err := d.source.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range rows {
		if _, err := tx.Exec(`INSERT INTO todos (id, list_id, description, completed, owner_id) VALUES (?, 'bench', ?, ?, 'bench-user')`,
			fmt.Sprintf("bench-%06d", i), fmt.Sprintf("Benchmark todo number %d with a description of typical length, about as long as a real one", i), i%2); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	conn := newConnector(b, d, "bench-user")
	ctx := context.Background()
	// Wait until replication has all rows.
	warm, err := client.Open(b.Context(), client.Options{Path: filepath.Join(b.TempDir(), "warm.db"), Schema: testSchema})
	if err != nil {
		b.Fatal(err)
	}
	_ = warm.Connect(ctx, conn, fastRetry)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = warm.WaitFor(wctx, func(client.SyncStatus) bool {
		r, _ := warm.Query(ctx, `SELECT count(*) FROM todos`)
		return r != nil && r.Rows[0][0].(int64) == int64(rows)
	})
	cancel()
	if err != nil {
		b.Fatal("replication did not finish")
	}
	warm.Close(context.Background())
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db, err := client.Open(b.Context(), client.Options{Path: filepath.Join(b.TempDir(), "bench.db"), Schema: testSchema})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := db.Connect(ctx, conn, fastRetry); err != nil {
			b.Fatal(err)
		}
		if err := db.WaitForFirstSync(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close(context.Background())
		b.StartTimer()
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "ops/s")
}
