package mysql

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// binlogConn is a client connection speaking the MySQL client/server
// protocol, just enough of it to read the binary log as a replica does:
// the handshake with mysql_native_password or caching_sha2_password, text
// queries whose results are not needed, and COM_BINLOG_DUMP. Queries for
// data go through database/sql and go-sql-driver/mysql instead.
type binlogConn struct {
	nc  net.Conn
	r   *bufio.Reader
	seq byte
	// mariaDB is set when the server announced itself as MariaDB.
	mariaDB bool
	version string
	buf     []byte // reassembled payload of the last packet
}

// Client capability flags (protocol: Capabilities Flags).
const (
	capLongPassword     = 0x00000001
	capLongFlag         = 0x00000004
	capConnectWithDB    = 0x00000008
	capProtocol41       = 0x00000200
	capTransactions     = 0x00002000
	capSecureConnection = 0x00008000
	capMultiResults     = 0x00020000
	capPluginAuth       = 0x00080000
	capPluginAuthLenenc = 0x00200000
	capDeprecateEOF     = 0x01000000
)

// Commands.
const (
	comQuery      = 0x03
	comBinlogDump = 0x12
)

// serverError is an ERR packet: the server's error number, SQLSTATE and
// message.
type serverError struct {
	Number   uint16
	SQLState string
	Message  string
}

func (e *serverError) Error() string {
	return fmt.Sprintf("Error %d (%s): %s", e.Number, e.SQLState, e.Message)
}

func parseErrPacket(p []byte) error {
	if len(p) < 3 || p[0] != 0xff {
		return errors.New("malformed error packet")
	}
	e := &serverError{Number: binary.LittleEndian.Uint16(p[1:3])}
	rest := p[3:]
	if len(rest) >= 6 && rest[0] == '#' {
		e.SQLState = string(rest[1:6])
		rest = rest[6:]
	}
	e.Message = string(rest)
	return e
}

// dialBinlog connects and authenticates.
func dialBinlog(ctx context.Context, addr, user, password string, timeout time.Duration) (*binlogConn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &binlogConn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	} else {
		_ = nc.SetDeadline(time.Now().Add(timeout))
	}
	if err := c.handshake(user, password); err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *binlogConn) Close() error { return c.nc.Close() }

// readPacket reads one logical packet (joining 16 MiB continuation
// packets) into c.buf.
func (c *binlogConn) readPacket() ([]byte, error) {
	c.buf = c.buf[:0]
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			return nil, err
		}
		n := int(uint32(hdr[0]) | uint32(hdr[1])<<8 | uint32(hdr[2])<<16)
		c.seq = hdr[3] + 1
		start := len(c.buf)
		if cap(c.buf)-start < n {
			nb := make([]byte, start, start+n+n/4)
			copy(nb, c.buf)
			c.buf = nb
		}
		c.buf = c.buf[:start+n]
		if _, err := io.ReadFull(c.r, c.buf[start:]); err != nil {
			return nil, err
		}
		if n < 0xffffff {
			return c.buf, nil
		}
	}
}

// writePacket writes payload as one or more packets.
func (c *binlogConn) writePacket(payload []byte) error {
	for {
		n := len(payload)
		if n > 0xffffff {
			n = 0xffffff
		}
		hdr := []byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq}
		c.seq++
		if _, err := c.nc.Write(append(hdr, payload[:n]...)); err != nil {
			return err
		}
		payload = payload[n:]
		if n < 0xffffff {
			return nil
		}
	}
}

func (c *binlogConn) handshake(user, password string) error {
	p, err := c.readPacket()
	if err != nil {
		return fmt.Errorf("read server greeting: %w", err)
	}
	if len(p) > 0 && p[0] == 0xff {
		return parseErrPacket(p)
	}
	if len(p) < 1 || p[0] != 10 {
		return fmt.Errorf("unsupported protocol version in server greeting")
	}
	i := 1
	end := indexByte(p[i:], 0)
	if end < 0 {
		return errors.New("malformed server greeting")
	}
	c.version = string(p[i : i+end])
	c.mariaDB = strings.Contains(strings.ToLower(c.version), "mariadb")
	i += end + 1
	if len(p) < i+4+8+1+2 {
		return errors.New("short server greeting")
	}
	i += 4 // connection id
	scramble := append([]byte(nil), p[i:i+8]...)
	i += 8 + 1
	caps := uint32(binary.LittleEndian.Uint16(p[i:]))
	i += 2
	plugin := "mysql_native_password"
	if len(p) >= i+1+2+2+1+10 {
		i += 1 + 2 // charset, status
		caps |= uint32(binary.LittleEndian.Uint16(p[i:])) << 16
		i += 2
		authLen := int(p[i])
		i += 1 + 10
		if caps&capSecureConnection != 0 {
			n := max(13, authLen-8)
			if len(p) < i+n {
				return errors.New("short server greeting")
			}
			part := p[i : i+n]
			if k := indexByte(part, 0); k >= 0 {
				part = part[:k]
			}
			scramble = append(scramble, part...)
			i += n
		}
		if caps&capPluginAuth != 0 && i < len(p) {
			name := p[i:]
			if k := indexByte(name, 0); k >= 0 {
				name = name[:k]
			}
			plugin = string(name)
		}
	}
	if caps&capProtocol41 == 0 {
		return errors.New("server does not speak protocol 4.1")
	}
	auth, err := scrambleFor(plugin, password, scramble)
	if err != nil {
		return err
	}
	flags := uint32(capLongPassword | capLongFlag | capProtocol41 | capTransactions | capSecureConnection |
		capMultiResults | capPluginAuth | capPluginAuthLenenc)
	flags &= caps | capPluginAuthLenenc
	out := make([]byte, 0, 64+len(user)+len(auth))
	out = binary.LittleEndian.AppendUint32(out, flags)
	out = binary.LittleEndian.AppendUint32(out, 1<<24)
	out = append(out, 45) // utf8mb4_general_ci
	out = append(out, make([]byte, 23)...)
	out = append(out, user...)
	out = append(out, 0)
	if flags&capPluginAuthLenenc != 0 {
		out = appendLenenc(out, uint64(len(auth)))
	} else {
		out = append(out, byte(len(auth)))
	}
	out = append(out, auth...)
	out = append(out, plugin...)
	out = append(out, 0)
	if err := c.writePacket(out); err != nil {
		return fmt.Errorf("send handshake response: %w", err)
	}
	return c.authResult(plugin, password, scramble)
}

// authResult reads the server's answers to the handshake response: OK,
// ERR, an auth switch to another plugin, or caching_sha2_password's extra
// rounds.
func (c *binlogConn) authResult(plugin, password string, scramble []byte) error {
	for round := 0; round < 5; round++ {
		p, err := c.readPacket()
		if err != nil {
			return fmt.Errorf("read authentication result: %w", err)
		}
		if len(p) == 0 {
			return errors.New("empty authentication result")
		}
		switch p[0] {
		case 0x00:
			return nil
		case 0xff:
			return parseErrPacket(p)
		case 0xfe: // auth switch request
			rest := p[1:]
			k := indexByte(rest, 0)
			if k < 0 {
				return errors.New("malformed auth switch request")
			}
			plugin = string(rest[:k])
			scramble = append([]byte(nil), rest[k+1:]...)
			if n := len(scramble); n > 0 && scramble[n-1] == 0 {
				scramble = scramble[:n-1]
			}
			auth, err := scrambleFor(plugin, password, scramble)
			if err != nil {
				return err
			}
			if err := c.writePacket(auth); err != nil {
				return err
			}
		case 0x01: // more data (caching_sha2_password)
			if plugin != "caching_sha2_password" || len(p) < 2 {
				return fmt.Errorf("unexpected authentication data for %s", plugin)
			}
			switch p[1] {
			case 3: // fast auth succeeded; OK follows
			case 4: // full authentication: password encrypted with the server's RSA key
				if err := c.writePacket([]byte{2}); err != nil {
					return err
				}
				kp, err := c.readPacket()
				if err != nil {
					return err
				}
				if len(kp) < 2 || kp[0] != 0x01 {
					return errors.New("caching_sha2_password: no public key from the server")
				}
				block, _ := pem.Decode(kp[1:])
				if block == nil {
					return errors.New("caching_sha2_password: malformed public key")
				}
				pub, err := x509.ParsePKIXPublicKey(block.Bytes)
				if err != nil {
					return fmt.Errorf("caching_sha2_password: %w", err)
				}
				rsaPub, ok := pub.(*rsa.PublicKey)
				if !ok {
					return errors.New("caching_sha2_password: public key is not RSA")
				}
				plain := append([]byte(password), 0)
				for i := range plain {
					plain[i] ^= scramble[i%len(scramble)]
				}
				enc, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, rsaPub, plain, nil)
				if err != nil {
					return fmt.Errorf("caching_sha2_password: %w", err)
				}
				if err := c.writePacket(enc); err != nil {
					return err
				}
			default:
				return fmt.Errorf("caching_sha2_password: unexpected state %d", p[1])
			}
		default:
			return fmt.Errorf("unexpected authentication packet 0x%02x", p[0])
		}
	}
	return errors.New("authentication did not finish")
}

// scrambleFor computes the auth response of a plugin.
func scrambleFor(plugin, password string, scramble []byte) ([]byte, error) {
	if password == "" {
		return nil, nil
	}
	switch plugin {
	case "mysql_native_password":
		// SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))
		h1 := sha1.Sum([]byte(password))
		h2 := sha1.Sum(h1[:])
		h := sha1.New()
		h.Write(scramble[:min(20, len(scramble))])
		h.Write(h2[:])
		h3 := h.Sum(nil)
		for i := range h3 {
			h3[i] ^= h1[i]
		}
		return h3, nil
	case "caching_sha2_password":
		// SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble)
		h1 := sha256.Sum256([]byte(password))
		h2 := sha256.Sum256(h1[:])
		h := sha256.New()
		h.Write(h2[:])
		h.Write(scramble[:min(20, len(scramble))])
		h3 := h.Sum(nil)
		for i := range h3 {
			h3[i] ^= h1[i]
		}
		return h3, nil
	default:
		return nil, fmt.Errorf("authentication plugin %q is not supported for the binlog connection (use mysql_native_password or caching_sha2_password)", plugin)
	}
}

// exec runs a statement and reads its OK (or the result set, which is
// discarded).
func (c *binlogConn) exec(q string) error {
	c.seq = 0
	if err := c.writePacket(append([]byte{comQuery}, q...)); err != nil {
		return err
	}
	p, err := c.readPacket()
	if err != nil {
		return err
	}
	switch {
	case len(p) == 0:
		return errors.New("empty response")
	case p[0] == 0x00:
		return nil
	case p[0] == 0xff:
		return parseErrPacket(p)
	}
	// A result set: column definitions, EOF, rows, EOF.
	eofs := 0
	for eofs < 2 {
		p, err := c.readPacket()
		if err != nil {
			return err
		}
		if len(p) > 0 && p[0] == 0xff {
			return parseErrPacket(p)
		}
		if len(p) > 0 && p[0] == 0xfe && len(p) < 9 {
			eofs++
		}
	}
	return nil
}

// startDump sends COM_BINLOG_DUMP for file at offset.
func (c *binlogConn) startDump(serverID uint32, file string, offset uint32) error {
	c.seq = 0
	out := []byte{comBinlogDump}
	out = binary.LittleEndian.AppendUint32(out, offset)
	out = binary.LittleEndian.AppendUint16(out, 0) // flags: block at the end
	out = binary.LittleEndian.AppendUint32(out, serverID)
	out = append(out, file...)
	return c.writePacket(out)
}

// readEvent returns the next binlog event (without the OK byte), or the
// server's error.
func (c *binlogConn) readEvent() ([]byte, error) {
	p, err := c.readPacket()
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("empty packet in the binlog stream")
	}
	switch p[0] {
	case 0x00:
		return p[1:], nil
	case 0xff:
		return nil, parseErrPacket(p)
	case 0xfe:
		return nil, errors.New("the server ended the binlog stream")
	}
	return nil, fmt.Errorf("unexpected packet 0x%02x in the binlog stream", p[0])
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func appendLenenc(b []byte, n uint64) []byte {
	switch {
	case n < 251:
		return append(b, byte(n))
	case n < 1<<16:
		return append(b, 0xfc, byte(n), byte(n>>8))
	case n < 1<<24:
		return append(b, 0xfd, byte(n), byte(n>>8), byte(n>>16))
	default:
		b = append(b, 0xfe)
		return binary.LittleEndian.AppendUint64(b, n)
	}
}

// readLenenc reads a length-encoded integer at b[0:], returning the value
// and the bytes used (0 when b is too short).
func readLenenc(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch b[0] {
	case 0xfc:
		if len(b) < 3 {
			return 0, 0
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3
	case 0xfd:
		if len(b) < 4 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case 0xfe:
		if len(b) < 9 {
			return 0, 0
		}
		return binary.LittleEndian.Uint64(b[1:]), 9
	case 0xfb, 0xff:
		return 0, 0
	}
	return uint64(b[0]), 1
}
