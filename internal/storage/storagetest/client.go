package storagetest

import (
	"encoding/json"
	"fmt"

	"github.com/powersync-go/powersync/protocol"
)

// Client applies ops the way a PowerSync client does (reference:
// protocol.md §4.3): per bucket an oplog of the latest op per row key, an
// add checksum and an op checksum.
type Client struct {
	Buckets map[string]*ClientBucket
}

// ClientBucket is one bucket's state in a Client.
type ClientBucket struct {
	Oplog    map[string]ClientOp // row key → latest PUT
	Add, Op  uint32
	LastOpID int64
}

// ClientOp is one PUT held by a client.
type ClientOp struct {
	OpID     int64
	Data     string
	Checksum uint32
}

// NewClient returns an empty client.
func NewClient() *Client { return &Client{Buckets: map[string]*ClientBucket{}} }

// Checksum is the bucket's checksum as the client validates it.
func (b *ClientBucket) Checksum() uint32 { return b.Add + b.Op }

// Apply applies one op, given as its wire JSON.
func (c *Client) Apply(bucket string, wire []byte) (protocol.OplogEntry, error) {
	var e protocol.OplogEntry
	if err := json.Unmarshal(wire, &e); err != nil {
		return e, fmt.Errorf("op of bucket %s is not valid JSON: %w: %s", bucket, err, wire)
	}
	b := c.Buckets[bucket]
	if b == nil {
		b = &ClientBucket{Oplog: map[string]ClientOp{}}
		c.Buckets[bucket] = b
	}
	if int64(e.OpID) <= b.LastOpID {
		return e, fmt.Errorf("bucket %s: op id %d after %d", bucket, e.OpID, b.LastOpID)
	}
	b.LastOpID = int64(e.OpID)
	key := e.ObjectType + "/" + e.ObjectID + "/" + e.Subkey
	supersede := func() {
		if old, ok := b.Oplog[key]; ok {
			b.Op -= old.Checksum
			b.Add += old.Checksum
			delete(b.Oplog, key)
		}
	}
	switch e.Op {
	case protocol.OpPut:
		if e.Data == nil {
			return e, fmt.Errorf("bucket %s: PUT %d without data", bucket, e.OpID)
		}
		supersede()
		b.Oplog[key] = ClientOp{OpID: int64(e.OpID), Data: *e.Data, Checksum: e.Checksum}
		b.Op += e.Checksum
	case protocol.OpRemove:
		supersede()
		b.Add += e.Checksum
	case protocol.OpMove:
		b.Add += e.Checksum
	case protocol.OpClear:
		b.Oplog = map[string]ClientOp{}
		b.Add = e.Checksum
		b.Op = 0
	default:
		return e, fmt.Errorf("bucket %s: unknown op %q", bucket, e.Op)
	}
	return e, nil
}

// Rows returns the rows a bucket holds: row key → data.
func (c *Client) Rows(bucket string) map[string]string {
	out := map[string]string{}
	if b := c.Buckets[bucket]; b != nil {
		for k, op := range b.Oplog {
			out[k] = op.Data
		}
	}
	return out
}
