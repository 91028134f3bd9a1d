package mysql

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
)

// event builds a raw binlog event with a valid header and, optionally, a
// CRC32 checksum.
func event(typ byte, logPos uint32, body []byte, checksum bool) []byte {
	size := eventHeaderLen + len(body)
	if checksum {
		size += 4
	}
	ev := make([]byte, eventHeaderLen, size)
	ev[4] = typ
	binary.LittleEndian.PutUint32(ev[5:], 1)
	binary.LittleEndian.PutUint32(ev[9:], uint32(size))
	binary.LittleEndian.PutUint32(ev[13:], logPos)
	ev = append(ev, body...)
	if checksum {
		ev = binary.LittleEndian.AppendUint32(ev, crc32.ChecksumIEEE(ev))
	}
	return ev
}

// Malformed events are errors, never panics or silent acceptance: a wrong
// size, a bad checksum, truncated bodies of every event the stream parses.
func TestMalformedEvents(t *testing.T) {
	good := event(eventXID, 100, make([]byte, 8), true)
	if _, body, err := splitEvent(good, true); err != nil || len(body) != 8 {
		t.Fatalf("good event: %v (%d bytes)", err, len(body))
	}
	bad := append([]byte(nil), good...)
	bad[eventHeaderLen] ^= 1
	if _, _, err := splitEvent(bad, true); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupted event: %v", err)
	}
	if _, _, err := splitEvent(good[:10], true); err == nil {
		t.Error("short event accepted")
	}
	wrongSize := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(wrongSize[9:], 999)
	if _, _, err := splitEvent(wrongSize, true); err == nil {
		t.Error("event with a wrong size accepted")
	}
	tm := tableMapBody()
	for n := 0; n < len(tm); n++ {
		if _, err := parseTableMap(tm[:n], 6); err == nil && n < 20 {
			t.Errorf("table map cut at %d bytes accepted", n)
		}
	}
	for n := 0; n < 12; n++ {
		if _, err := parseRowsEvent(eventUpdateRowsV1, make([]byte, n), 6); err == nil && n < 9 {
			t.Errorf("rows event of %d bytes accepted", n)
		}
	}
	if _, _, err := parseQuery([]byte{1, 2, 3}); err == nil {
		t.Error("short query event accepted")
	}
	if _, _, err := parseRotate([]byte{1}); err == nil {
		t.Error("short rotate event accepted")
	}
	if _, err := parseFormatDesc([]byte{4, 0}); err == nil {
		t.Error("short format description accepted")
	}
}

// allTypes is a table map body with one column of every binlog type the
// decoder knows, and the columns it resolves to.
func tableMapBody() []byte {
	b := []byte{1, 0, 0, 0, 0, 0, 0, 0} // table id, flags
	b = append(b, 2, 'd', 'b', 0, 1, 't', 0)
	types := []byte{typeTiny, typeShort, typeInt24, typeLong, typeLongLong, typeFloat, typeDouble, typeNewDecimal,
		typeDate, typeDateTime2, typeTimestamp2, typeTime2, typeYear, typeBit, typeVarchar, typeString, typeBlob,
		typeString, typeString, typeGeometry, typeDateTime, typeTimestamp, typeTime}
	b = appendLenenc(b, uint64(len(types)))
	b = append(b, types...)
	meta := []byte{
		4,     // float
		8,     // double
		10, 2, // decimal(10,2)
		6,    // datetime2(6)
		3,    // timestamp2(3)
		4,    // time2(4)
		4, 1, // bit: 4 bits, 1 byte
		0x2c, 0x01, // varchar(300)
		0xfe, 10, // char(10)
		2,       // blob
		0xf7, 1, // enum, 1 byte
		0xf8, 2, // set, 2 bytes
		4, // geometry
	}
	b = appendLenenc(b, uint64(len(meta)))
	b = append(b, meta...)
	b = append(b, make([]byte, (len(types)+7)/8)...)
	return b
}

// FuzzRowImage feeds arbitrary row images and events to the decoders: they
// return values or errors, never panic or read out of bounds.
func FuzzRowImage(f *testing.F) {
	f.Add([]byte{0, 0, 0}, []byte{0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add(make([]byte, 64), tableMapBody())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, row, ev []byte) {
		tm, err := parseTableMap(tableMapBody(), 6)
		if err != nil {
			t.Fatal(err)
		}
		cols := make([]column, len(tm.types))
		for i := range cols {
			cols[i] = column{name: string(rune('a' + i)), typ: tm.types[i], meta: tm.meta[i], labels: []string{"x", "y"}}
		}
		d := decoder{}
		b := row
		for i := range cols {
			_, n, err := d.binlogValue(&cols[i], b)
			if err != nil {
				break
			}
			if n < 0 || n > len(b) {
				t.Fatalf("column %d used %d of %d bytes", i, n, len(b))
			}
			b = b[n:]
		}
		_, _ = parseTableMap(ev, 6)
		_, _ = parseTableMap(ev, 4)
		for _, typ := range []byte{eventWriteRowsV1, eventUpdateRowsV1, eventDeleteRowsV2, eventUpdateRowsV2} {
			_, _ = parseRowsEvent(typ, ev, 6)
		}
		_, _, _ = parseQuery(ev)
		_, _, _ = parseRotate(ev)
		_, _ = parseFormatDesc(ev)
		_, _, _ = splitEvent(ev, true)
		_, _, _ = splitEvent(ev, false)
		_, _, _ = decodeDecimal(ev, 65, 30)
	})
}

// Binary DECIMAL values decode to the server's text.
func TestDecodeDecimal(t *testing.T) {
	// 1234567890.1234 as DECIMAL(14,4): the packed form MySQL documents.
	b := []byte{0x81, 0x0D, 0xFB, 0x38, 0xD2, 0x04, 0xD2}
	got, n, err := decodeDecimal(b, 14, 4)
	if err != nil || n != 7 || got != "1234567890.1234" {
		t.Fatalf("got %q %d %v", got, n, err)
	}
	neg := make([]byte, len(b))
	for i := range b {
		neg[i] = ^b[i]
	}
	if got, _, _ := decodeDecimal(neg, 14, 4); got != "-1234567890.1234" {
		t.Fatalf("negative: %q", got)
	}
}

// DDL statements name the tables they touch, quoted or not, with or
// without a schema.
func TestSplitIdent(t *testing.T) {
	cases := []struct{ in, schema, name string }{
		{"todos", "db", "todos"},
		{"`my db`.`to``dos`", "my db", "to`dos"},
		{"other . t", "other", "t"},
	}
	for _, c := range cases {
		s, n := splitIdent(c.in, "db")
		if s != c.schema || n != c.name {
			t.Errorf("splitIdent(%q) = %q, %q", c.in, s, n)
		}
	}
	if m := reTruncate.FindStringSubmatch("TRUNCATE TABLE `a`.`b`"); m == nil || m[1] != "`a`.`b`" {
		t.Errorf("truncate: %q", m)
	}
	if m := reDrop.FindStringSubmatch("DROP TABLE IF EXISTS a, `b` /* generated by server */"); m == nil {
		t.Error("drop not matched")
	}
}

// Streams of different versions read the binlog with different replica
// ids (a server drops a replica when another connects with its id).
func TestServerID(t *testing.T) {
	s := &Source{opts: Options{ServerID: 4242}}
	if a, b := s.serverID("powersync_1_ab12"), s.serverID("powersync_2_ff00"); a != 4243 || b != 4244 {
		t.Errorf("configured 4242: versions 1, 2 -> %d, %d", a, b)
	}
	d := &Source{}
	if a, b := d.serverID("powersync_1_ab12"), d.serverID("powersync_2_ab12"); a == b || a < 100000 || b < 100000 {
		t.Errorf("derived ids %d, %d", a, b)
	}
	if v := slotVersion("custom"); v == 0 {
		t.Errorf("slotVersion(custom) = 0")
	}
}
