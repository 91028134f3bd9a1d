package replication_test

import (
	"encoding/json"
	"fmt"

	"github.com/powersync-go/powersync/internal/replication"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// fakeRules is a tiny hand-written stand-in for the sync rules engine:
// config "by_owner" puts each todo in by_owner[owner_id], config "by_list"
// in by_list[list_id]; both index members by user_id → list_id.
type fakeRules struct {
	version int64
	byList  bool
}

func compileFake(content string, version int64) (replication.Rules, error) {
	switch content {
	case "by_owner":
		return fakeRules{version: version}, nil
	case "by_list":
		return fakeRules{version: version, byList: true}, nil
	}
	return nil, fmt.Errorf("fake rules: unknown config %q", content)
}

func (fakeRules) SourceTables() []syncrules.TablePattern {
	return []syncrules.TablePattern{{Name: "todos"}, {Name: "members"}}
}

func jsonRow(row syncrules.Row) []byte {
	m := map[string]any{}
	for k, v := range row {
		switch v.Kind() {
		case syncrules.KindInteger:
			m[k] = v.Int64()
		case syncrules.KindReal:
			m[k] = v.Float64()
		case syncrules.KindText:
			m[k] = v.Str()
		default:
			m[k] = nil
		}
	}
	b, _ := json.Marshal(m)
	return b
}

func (r fakeRules) EvaluateRow(t syncrules.TableRef, row syncrules.Row) ([]syncrules.EvaluatedRow, []error) {
	if t.Name != "todos" {
		return nil, nil
	}
	key, def := row["owner_id"], "by_owner"
	if r.byList {
		key, def = row["list_id"], "by_list"
	}
	if key.IsNull() {
		return nil, nil
	}
	return []syncrules.EvaluatedRow{{
		Bucket: fmt.Sprintf("%d#%s[%q]", r.version, def, key.Str()),
		Table:  "todos",
		ID:     fmt.Sprint(row["id"].Int64()),
		Data:   jsonRow(row),
	}}, nil
}

func (r fakeRules) EvaluateParameterRow(t syncrules.TableRef, row syncrules.Row) ([]syncrules.LookupEntry, []error) {
	if t.Name != "members" || row["user_id"].IsNull() {
		return nil, nil
	}
	return []syncrules.LookupEntry{{
		Key:    fakeLookupKey(r.version, row["user_id"].Str()),
		Result: []byte(fmt.Sprintf("[%q]", row["list_id"].Str())),
	}}, nil
}

func fakeLookupKey(version int64, user string) []byte {
	return []byte(fmt.Sprintf("%d/members/%s", version, user))
}
