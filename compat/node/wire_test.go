package compat_test

import (
	"testing"
	"time"
)

// TestOfficialSDKWireText: the official @powersync/node SDK stores text
// with every character the wire's JSON escaper treats specially exactly as
// the source holds it — quotes, backslashes, control characters (short and
// \u00XX escapes), DEL, U+2028/U+2029 and HTML characters written raw, and
// non-ASCII — and invalid UTF-8 as U+FFFD. The user id carries such
// characters too, so the bucket name in checkpoint and data lines does.
func TestOfficialSDKWireText(t *testing.T) {
	node := requireSDK(t)
	d := startDev(t)
	user := "wire<&>\u2028\"u\\1"
	texts := map[string]struct{ source, want string }{
		"quotes":     {`say "hi" C:\x \\ "`, `say "hi" C:\x \\ "`},
		"controls":   {"tab\there\nnew\rline\b\f\x01\x1f\x7f", "tab\there\nnew\rline\b\f\x01\x1f\x7f"},
		"separators": {"a\u2028b\u2029c", "a\u2028b\u2029c"},
		"html":       {"<script>&amp;</script>", "<script>&amp;</script>"},
		"unicode":    {"日本 é 😀 \uFFFD", "日本 é 😀 \uFFFD"},
		"invalid":    {"a\xffb\xe2\x80", "a\uFFFDb\uFFFD\uFFFD"},
	}
	for id, s := range texts {
		d.exec(t, `INSERT INTO todos (id, description, owner_id) VALUES (?, ?, ?)`, id, s.source, user)
	}
	c := startClient(t, node, d, newTokenServer(t, d, user), "wire")
	c.eventually(t, "the todos in the SDK's database", 60*time.Second, func() bool {
		return c.count(t, `SELECT count(*) AS n FROM todos`) == len(texts)
	})
	for id, s := range texts {
		rows := c.query(t, `SELECT description, owner_id FROM todos WHERE id = ?`, id)
		if len(rows) != 1 || rows[0]["description"] != s.want || rows[0]["owner_id"] != user {
			t.Errorf("todo %s in the SDK: %q, want description %q and owner %q", id, rows, s.want, user)
		}
	}
}
