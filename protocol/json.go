package protocol

import (
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// jsonSafe marks the bytes a JSON string carries unescaped (bytes from 0x80
// on only where the text is valid UTF-8).
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSONString appends s as a JSON string literal, escaped the way the
// reference service's JSON.stringify writes it. This is the one escaper of
// everything in sync lines and stored op JSON, and of the row data whose
// bytes op checksums cover, so it must agree with the reference byte for
// byte:
//
//   - '"' and '\\' are escaped with a backslash;
//   - \b, \f, \n, \r and \t use their short escapes, other bytes below
//     0x20 are written \u00XX (lower-case hex);
//   - everything else is written as is: DEL, '<', '>', '&' (no HTML
//     escaping) and U+2028/U+2029 (JSON.stringify does not escape them;
//     clients split lines on '\n' only);
//   - each byte that is not part of valid UTF-8 becomes U+FFFD, written as
//     its UTF-8 bytes. This is the Go form of what JavaScript does with a
//     string it could not decode; JSON.stringify's \udXXX escapes of lone
//     surrogates have no Go equivalent, as Go strings hold bytes.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// The non-ASCII rest of s is checked for valid UTF-8 once, at its
	// first byte; only invalid text is decoded rune by rune.
	checked, valid := false, false
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && jsonSafe[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf && !checked {
			checked, valid = true, utf8.ValidString(s[i:])
		}
		if c >= utf8.RuneSelf && valid {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendJSONBytes is AppendJSONString for text held in a []byte (row data),
// read in place without a copy. b must not change during the call.
func AppendJSONBytes(dst, b []byte) []byte {
	return AppendJSONString(dst, unsafe.String(unsafe.SliceData(b), len(b)))
}
