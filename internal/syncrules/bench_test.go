package syncrules_test

import (
	"strconv"
	"testing"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// benchConfig has a per-user, a per-list and a global bucket: every todo
// row goes to two buckets, every list row to the global one.
const benchConfig = `
bucket_definitions:
  by_user:
    parameters: SELECT request.user_id() AS user_id
    data:
      - SELECT * FROM todos WHERE owner_id = bucket.user_id
  by_list:
    parameters: SELECT id AS list_id FROM lists WHERE owner_id = request.user_id()
    data:
      - SELECT id, description, completed, list_id FROM todos WHERE list_id = bucket.list_id
  global:
    data:
      - SELECT * FROM lists
`

func benchRows(n int) []sqlvalue.Row {
	rows := make([]sqlvalue.Row, n)
	for i := range rows {
		rows[i] = sqlvalue.Row{
			"id":          sqlvalue.Text("7f1c5b8e-3c1a-4f5e-9a7d-" + strconv.Itoa(100000000000+i)),
			"owner_id":    sqlvalue.Text("user-" + strconv.Itoa(i%100)),
			"list_id":     sqlvalue.Text("list-" + strconv.Itoa(i%1000)),
			"description": sqlvalue.Text("Buy milk and eggs and bread and butter " + strconv.Itoa(i)),
			"completed":   sqlvalue.Int(int64(i % 2)),
			"created_at":  sqlvalue.Text("2026-11-27T01:00:00.000000Z"),
		}
	}
	return rows
}

// BenchmarkEvaluateRow measures the replication hot path: one source row
// → its buckets with output data (two buckets per row here).
func BenchmarkEvaluateRow(b *testing.B) {
	benchmarkEvaluateRow(b, mustParse(b, benchConfig), 2)
}

// benchmarkEvaluateRow evaluates todos rows of c (versioned 1), each of
// which must land in buckets buckets.
func benchmarkEvaluateRow(b *testing.B, c *syncrules.Config, buckets int) {
	c = c.Versioned(1)
	rows := benchRows(1024)
	table := sqlvalue.TableRef{Schema: "public", Name: "todos"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, errs := c.EvaluateRow(table, rows[i%len(rows)])
		if len(out) != buckets || errs != nil {
			b.Fatal(out, errs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkEvaluateParameterRow measures the parameter-table path.
func BenchmarkEvaluateParameterRow(b *testing.B) {
	c, _ := syncrules.Parse([]byte(benchConfig), syncrules.ParseOptions{DefaultSchema: "public"})
	table := sqlvalue.TableRef{Schema: "public", Name: "lists"}
	row := sqlvalue.Row{"id": sqlvalue.Text("list-1"), "owner_id": sqlvalue.Text("user-1"), "name": sqlvalue.Text("Groceries")}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if out, _ := c.EvaluateParameterRow(table, row); len(out) != 1 {
			b.Fatal(out)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkEvaluateRowOneBucket is the simplest equality case: one data
// query, one bucket per row.
func BenchmarkEvaluateRowOneBucket(b *testing.B) {
	benchmarkEvaluateRow(b, mustParse(b, `
bucket_definitions:
  by_user:
    parameters: SELECT request.user_id() AS user_id
    data:
      - SELECT * FROM todos WHERE owner_id = bucket.user_id
`), 1)
}

// BenchmarkParse measures parsing and compiling a whole sync config (the
// cost paid at start and on every deploy, not per row).
func BenchmarkParse(b *testing.B) {
	src := []byte(benchConfig)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if c, diags := syncrules.Parse(src, syncrules.ParseOptions{DefaultSchema: "public"}); c == nil {
			b.Fatal(diags)
		}
	}
}
