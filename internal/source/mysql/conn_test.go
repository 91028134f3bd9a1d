package mysql

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
)

// packet frames payload as one protocol packet with sequence seq.
func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// greeting is a protocol 10 server greeting announcing plugin.
func greeting(version, plugin string) []byte {
	p := []byte{10}
	p = append(p, version...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 7)
	p = append(p, []byte("abcdefgh")...)
	p = append(p, 0)
	caps := uint32(capProtocol41 | capSecureConnection | capPluginAuth | capPluginAuthLenenc)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 45, 2, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, []byte("ijklmnopqrst")...)
	p = append(p, 0)
	p = append(p, plugin...)
	return append(p, 0)
}

// serve runs a fake server on one end of a pipe: it writes the given
// packets, reading (and discarding) whatever the client sends in between.
func serve(t *testing.T, packets ...[]byte) *binlogConn {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() {
		r := bufio.NewReader(server)
		for i, p := range packets {
			if i > 0 {
				var hdr [4]byte
				if _, err := r.Read(hdr[:]); err != nil {
					return
				}
				n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
				if _, err := r.Discard(n); err != nil {
					return
				}
			}
			if _, err := server.Write(p); err != nil {
				return
			}
		}
		server.Close()
	}()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	return &binlogConn{nc: client, r: bufio.NewReader(client)}
}

// The handshake logs in with mysql_native_password, follows an auth switch,
// and refuses malformed or hostile greetings with an error.
func TestHandshake(t *testing.T) {
	ok := packet(2, []byte{0, 0, 0, 2, 0, 0, 0})
	c := serve(t, packet(0, greeting("10.11.19-MariaDB", "mysql_native_password")), ok)
	if err := c.handshake("u", "pw"); err != nil || !c.mariaDB {
		t.Fatalf("native password: %v (mariadb=%v)", err, c.mariaDB)
	}
	sw := append([]byte{0xfe}, "mysql_native_password\x00abcdefghijklmnopqrst\x00"...)
	c = serve(t, packet(0, greeting("8.4.0", "caching_sha2_password")), packet(2, sw), packet(4, []byte{0, 0, 0, 2, 0}))
	if err := c.handshake("u", "pw"); err != nil || c.mariaDB {
		t.Fatalf("auth switch: %v", err)
	}
	denied := append([]byte{0xff, 0x15, 0x04}, "#28000Access denied"...)
	c = serve(t, packet(0, greeting("8.0", "mysql_native_password")), packet(2, denied))
	if err := c.handshake("u", "pw"); err == nil {
		t.Fatal("access denied accepted")
	} else if se, ok := err.(*serverError); !ok || se.Number != 1045 || se.SQLState != "28000" {
		t.Fatalf("access denied: %#v", err)
	}
	hostile := [][]byte{
		{},
		{9},
		{10},
		{10, 'x'},
		append([]byte{10}, "5.7\x00\x01\x02"...),
		greeting("8.0", "unknown_plugin"),
		append(greeting("8.0", "mysql_native_password")[:40], 0),
		{0xff, 1},
	}
	for i, g := range hostile {
		c := serve(t, packet(0, g), packet(2, []byte{0xfe}))
		if err := c.handshake("u", "pw"); err == nil {
			t.Errorf("hostile greeting %d accepted", i)
		}
	}
}

// A binlog stream's packets: events, a server error (a purged file) and
// the end of the stream.
func TestReadEvent(t *testing.T) {
	ev := append([]byte{0}, make([]byte, 19)...)
	purged := append([]byte{0xff, 0xd4, 0x04}, "#HY000Could not find first log file name in binary log index file"...)
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() {
		_, _ = server.Write(append(packet(1, ev), packet(2, purged)...))
	}()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	c := &binlogConn{nc: client, r: bufio.NewReader(client)}
	if b, err := c.readEvent(); err != nil || len(b) != 19 {
		t.Fatalf("event: %d bytes, %v", len(b), err)
	}
	// Error 1236 from the server is our ErrPositionLost at the adapter
	// boundary.
	_, err := c.readEvent()
	if err == nil || !errors.Is(wrap("read", err), ErrPositionLost) {
		t.Fatalf("purged: %v", err)
	}
}
