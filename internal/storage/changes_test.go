package storage_test

import (
	"reflect"
	"testing"

	"github.com/powersync-go/powersync/internal/storage"
)

func TestSortedChanges(t *testing.T) {
	got := storage.SortedChanges(
		map[string]struct{}{"b2": {}, "b1": {}},
		map[string]struct{}{"\x02": {}, "\x01": {}},
	)
	want := storage.Changes{Buckets: []string{"b1", "b2"}, Lookups: [][]byte{{1}, {2}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SortedChanges = %+v, want %+v", got, want)
	}
	if got := storage.SortedChanges(nil, nil); got.All || got.Buckets != nil || got.Lookups != nil {
		t.Errorf("SortedChanges(nil, nil) = %+v, want empty", got)
	}
}
