package mysql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Binary log event types used by the stream (protocol: Binlog Event Type).
const (
	eventQuery           = 2
	eventStop            = 3
	eventRotate          = 4
	eventFormatDesc      = 15
	eventXID             = 16
	eventTableMap        = 19
	eventWriteRowsV1     = 23
	eventUpdateRowsV1    = 24
	eventDeleteRowsV1    = 25
	eventHeartbeat       = 27
	eventWriteRowsV2     = 30
	eventUpdateRowsV2    = 31
	eventDeleteRowsV2    = 32
	eventGTID            = 33 // MySQL
	eventAnonymousGTID   = 34 // MySQL
	eventHeartbeatV2     = 41 // MySQL 8.0.26+
	eventMariaGTID       = 162
	eventMariaCompressed = 166 // 166–171: MariaDB's compressed query and rows events
	eventMariaLastComp   = 171
)

const eventHeaderLen = 19

// eventHeader is the common header of every event.
type eventHeader struct {
	typ      byte
	serverID uint32
	size     uint32
	// logPos is where the next event starts in the current file (0 for
	// artificial events).
	logPos uint32
	flags  uint16
}

var errMalformed = errors.New("malformed binlog event")

// splitEvent checks an event's length and checksum and returns its header
// and body (without the checksum).
func splitEvent(ev []byte, checksum bool) (eventHeader, []byte, error) {
	if len(ev) < eventHeaderLen {
		return eventHeader{}, nil, errMalformed
	}
	h := eventHeader{
		typ:      ev[4],
		serverID: binary.LittleEndian.Uint32(ev[5:]),
		size:     binary.LittleEndian.Uint32(ev[9:]),
		logPos:   binary.LittleEndian.Uint32(ev[13:]),
		flags:    binary.LittleEndian.Uint16(ev[17:]),
	}
	if int(h.size) != len(ev) {
		return h, nil, fmt.Errorf("%w: event size %d, packet holds %d bytes", errMalformed, h.size, len(ev))
	}
	body := ev[eventHeaderLen:]
	if checksum {
		if len(body) < 4 {
			return h, nil, errMalformed
		}
		n := len(ev) - 4
		want := binary.LittleEndian.Uint32(ev[n:])
		if got := crc32.ChecksumIEEE(ev[:n]); got != want {
			return h, nil, fmt.Errorf("binlog event checksum mismatch (event type %d at %d)", h.typ, h.logPos)
		}
		body = body[:len(body)-4]
	}
	return h, body, nil
}

// tableMap is a TABLE_MAP event: the table a rows event with the same id
// refers to, with its columns' binlog types and metadata, and (with
// binlog_row_metadata=FULL) the column names, signedness and enum/set
// members.
type tableMap struct {
	id       uint64
	schema   string
	table    string
	types    []byte
	meta     []uint16
	names    []string // nil without full row metadata
	unsigned []bool   // nil without row metadata
	enums    [][]string
	sets     [][]string
}

// parseTableMap decodes a TABLE_MAP event body. idLen is the table id's
// width from the format description (6 on every current server).
func parseTableMap(b []byte, idLen int) (*tableMap, error) {
	r := reader{b: b}
	tm := &tableMap{id: r.uint(idLen)}
	r.skip(2) // flags
	tm.schema = string(r.bytes(int(r.byte())))
	r.skip(1)
	tm.table = string(r.bytes(int(r.byte())))
	r.skip(1)
	n := int(r.lenenc())
	if r.err != nil || n < 0 || n > 4096 {
		return nil, fmt.Errorf("%w: table map", errMalformed)
	}
	tm.types = append([]byte(nil), r.bytes(n)...)
	metaLen := int(r.lenenc())
	meta := reader{b: r.bytes(metaLen)}
	tm.meta = make([]uint16, n)
	for i, t := range tm.types {
		switch t {
		case typeFloat, typeDouble, typeBlob, typeTinyBlob, typeMediumBlob, typeLongBlob, typeGeometry, typeJSON,
			typeTimestamp2, typeDateTime2, typeTime2:
			tm.meta[i] = uint16(meta.byte())
		case typeVarchar, typeVarString, typeBit:
			lo := meta.byte()
			hi := meta.byte()
			if t == typeBit {
				tm.meta[i] = uint16(hi)<<8 | uint16(lo) // bytes<<8 | bits
			} else {
				tm.meta[i] = uint16(hi)<<8 | uint16(lo)
			}
		case typeNewDecimal:
			p := meta.byte()
			s := meta.byte()
			tm.meta[i] = uint16(p)<<8 | uint16(s)
		case typeString, typeEnum, typeSet:
			b0 := meta.byte()
			b1 := meta.byte()
			real, length := b0, uint16(b1)
			if b0&0x30 != 0x30 {
				length |= uint16((b0&0x30)^0x30) << 4
				real = b0 | 0x30
			}
			switch real {
			case typeEnum, typeSet:
				tm.types[i] = real
			default:
				tm.types[i] = typeString
			}
			tm.meta[i] = length
		}
	}
	if meta.err != nil {
		return nil, fmt.Errorf("%w: table map column metadata", errMalformed)
	}
	r.skip((n + 7) / 8) // null bitmap
	if r.err != nil {
		return nil, fmt.Errorf("%w: table map", errMalformed)
	}
	// Optional metadata (binlog_row_metadata=MINIMAL or FULL).
	for r.err == nil && r.left() > 0 {
		typ := r.byte()
		l := int(r.lenenc())
		f := reader{b: r.bytes(l)}
		if r.err != nil {
			break
		}
		switch typ {
		case 1: // signedness: one bit per numeric column, 1 = unsigned
			tm.unsigned = make([]bool, n)
			bit := 0
			for i, t := range tm.types {
				if isNumericType(t) {
					if bit/8 < len(f.b) && f.b[bit/8]&(0x80>>(bit%8)) != 0 {
						tm.unsigned[i] = true
					}
					bit++
				}
			}
		case 4: // column names
			for f.left() > 0 && f.err == nil {
				tm.names = append(tm.names, string(f.bytes(int(f.lenenc()))))
			}
			if len(tm.names) != n || f.err != nil {
				tm.names = nil
			}
		case 5, 6: // SET / ENUM members, per SET / ENUM column
			var lists [][]string
			for f.left() > 0 && f.err == nil {
				k := int(f.lenenc())
				var l []string
				for j := 0; j < k && f.err == nil; j++ {
					l = append(l, string(f.bytes(int(f.lenenc()))))
				}
				lists = append(lists, l)
			}
			if typ == 5 {
				tm.sets = lists
			} else {
				tm.enums = lists
			}
		}
	}
	return tm, nil
}

func isNumericType(t byte) bool {
	switch t {
	case typeTiny, typeShort, typeInt24, typeLong, typeLongLong, typeFloat, typeDouble, typeNewDecimal, typeDecimal:
		return true
	}
	return false
}

// rowsEvent is a WRITE/UPDATE/DELETE_ROWS event before its rows are
// decoded.
type rowsEvent struct {
	tableID uint64
	kind    byte // eventWriteRowsV1, eventUpdateRowsV1 or eventDeleteRowsV1
	ncols   int
	present []byte // columns in the (before) image
	after   []byte // columns in the after image (updates)
	rows    []byte
}

// parseRowsEvent decodes the header of a rows event (v1 or v2).
func parseRowsEvent(typ byte, b []byte, idLen int) (*rowsEvent, error) {
	r := reader{b: b}
	ev := &rowsEvent{tableID: r.uint(idLen)}
	r.skip(2) // flags
	switch typ {
	case eventWriteRowsV2, eventUpdateRowsV2, eventDeleteRowsV2:
		extra := int(r.uint(2))
		r.skip(extra - 2)
		ev.kind = typ - (eventWriteRowsV2 - eventWriteRowsV1)
	default:
		ev.kind = typ
	}
	ev.ncols = int(r.lenenc())
	if r.err != nil || ev.ncols < 0 || ev.ncols > 4096 {
		return nil, fmt.Errorf("%w: rows event", errMalformed)
	}
	nb := (ev.ncols + 7) / 8
	ev.present = r.bytes(nb)
	ev.after = ev.present
	if ev.kind == eventUpdateRowsV1 {
		ev.after = r.bytes(nb)
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: rows event", errMalformed)
	}
	ev.rows = r.b[r.pos:]
	return ev, nil
}

// reader reads little-endian fields, recording the first overrun in err
// (every read after it returns zero values).
type reader struct {
	b   []byte
	pos int
	err error
}

func (r *reader) left() int { return len(r.b) - r.pos }

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.left() < n {
		r.err = errMalformed
		return nil
	}
	p := r.b[r.pos : r.pos+n]
	r.pos += n
	return p
}

func (r *reader) skip(n int) { r.bytes(n) }

func (r *reader) byte() byte {
	p := r.bytes(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) uint(n int) uint64 {
	p := r.bytes(n)
	var v uint64
	for i := len(p) - 1; i >= 0; i-- {
		v = v<<8 | uint64(p[i])
	}
	return v
}

func (r *reader) lenenc() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := readLenenc(r.b[r.pos:])
	if n == 0 {
		r.err = errMalformed
		return 0
	}
	r.pos += n
	return v
}

// parseQuery returns the default database and the statement of a QUERY
// event.
func parseQuery(b []byte) (schema, query string, err error) {
	r := reader{b: b}
	r.skip(4 + 4) // thread id, execution time
	schemaLen := int(r.byte())
	r.skip(2) // error code
	statusLen := int(r.uint(2))
	r.skip(statusLen)
	schema = string(r.bytes(schemaLen))
	r.skip(1)
	if r.err != nil {
		return "", "", fmt.Errorf("%w: query event", errMalformed)
	}
	return schema, string(r.b[r.pos:]), nil
}

// parseRotate returns the file and position a ROTATE event names.
func parseRotate(b []byte) (string, uint64, error) {
	if len(b) < 8 {
		return "", 0, fmt.Errorf("%w: rotate event", errMalformed)
	}
	return string(b[8:]), binary.LittleEndian.Uint64(b), nil
}

// formatDesc is what the stream needs from a FORMAT_DESCRIPTION event: the
// table id width. (Whether events carry a CRC32 checksum is the server's
// binlog_checksum, read before the stream starts.)
type formatDesc struct {
	tableIDLen int
}

func parseFormatDesc(b []byte) (formatDesc, error) {
	// binlog version(2) server version(50) timestamp(4) header length(1),
	// then one post-header length per event type, then (on servers that
	// know checksums) the checksum algorithm byte.
	const fixed = 2 + 50 + 4 + 1
	if len(b) < fixed+eventTableMap {
		return formatDesc{}, fmt.Errorf("%w: format description", errMalformed)
	}
	post := b[fixed:]
	fd := formatDesc{tableIDLen: 6}
	if post[eventTableMap-1] == 6 {
		fd.tableIDLen = 4
	}
	return fd, nil
}
