package protocol

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// jsonSafeASCII marks the ASCII bytes a JSON string carries unescaped.
var jsonSafeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSONString appends s as a JSON string literal, escaped the way the
// reference service's JSON.stringify writes it. This is the one escaper of
// everything on the wire and in stored op JSON, and of the row data whose
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
//
// Row data arrives as []byte, names as string; both are taken without a
// conversion.
func AppendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafeASCII[c] {
				i++
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
			continue
		}
		// At most utf8.UTFMax bytes: the conversion of a []byte stays on the
		// stack.
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
