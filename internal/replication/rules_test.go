package replication_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/replication"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// ownerConfig is the sync config of most tests: each user gets their own
// todos (a per-user bucket) and the todos of the lists they are a member
// of (a bucket per list, found through the members parameter table).
const ownerConfig = `bucket_definitions:
  by_owner:
    parameters: SELECT request.user_id() AS owner_id
    data:
      - SELECT * FROM todos WHERE owner_id = bucket.owner_id
  by_list:
    parameters: SELECT list_id FROM members WHERE user_id = request.user_id()
    data:
      - SELECT id, title, list_id FROM todos WHERE list_id = bucket.list_id
`

// listConfig is a changed sync config (a redeploy): only the list buckets,
// with another output shape.
const listConfig = `bucket_definitions:
  lists:
    parameters: SELECT list_id FROM members WHERE user_id = request.user_id()
    data:
      - SELECT id, upper(title) AS title FROM todos WHERE list_id = bucket.list_id
`

// compileRules compiles with the real sync rules engine, as the service
// does for a SQLite source.
func compileRules(content string, version int64) (replication.Rules, error) {
	c, err := parseRules(content, version)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func parseRules(content string, version int64) (*syncrules.Config, error) {
	c, diags := syncrules.Parse([]byte(content), syncrules.ParseOptions{})
	if c == nil || diags.HasFatal() {
		var msgs []string
		for _, d := range diags {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", d.Line, d.Column, d.Message))
		}
		return nil, fmt.Errorf("sync config: %s", strings.Join(msgs, "; "))
	}
	return c.Versioned(version), nil
}

// userBuckets resolves a user's buckets as the sync API does, with the
// parameter lookups read as of cp.
func userBuckets(t testing.TB, st storage.Storage, v storage.Version, cp storage.Checkpoint, user string) string {
	t.Helper()
	c, err := parseRules(v.Content, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.NewQuerier(syncrules.Request{UserID: user, Claims: []byte(`{"sub":"` + user + `"}`), IncludeDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bs := st.Bucket(v.ID)
	ds, err := q.Buckets(ctx, func(keys [][]byte) ([][][]byte, error) { return bs.Lookup(ctx, cp, keys) })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		out = append(out, d.Bucket)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
