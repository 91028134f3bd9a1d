package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The YAML text is first turned into a small tree of positioned values (this
// file), with !env tags, anchors, aliases and merge keys already resolved;
// the schema decoder (decode.go) then walks that tree. Keeping the two apart
// means the decoder never sees YAML syntax, only values and where they were.

type pos struct{ line, col int }

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindInt
	kindFloat
	kindString
	kindMap
	kindSeq
)

// node is one value of the config with the position it was written at.
type node struct {
	kind    kind
	pos     pos
	str     string // kindString: the value; other scalars: the text as written
	b       bool
	i       int64
	f       float64
	entries []entry // kindMap, in source order
	items   []*node // kindSeq
	env     string  // the variable, when the value came from !env
	block   bool    // a block scalar (`|` or `>`)
	size    int     // values in this subtree with aliases expanded
}

type entry struct {
	key    string
	keyPos pos
	val    *node
}

// maxNodes bounds the values one config may expand to, so alias bombs
// ("billion laughs") fail instead of eating memory.
const maxNodes = 1 << 20

// builder converts a goccy AST into nodes.
type builder struct {
	diags   *collector
	getenv  func(string) string
	anchors map[string]*node
	count   int
}

// parseTree parses src into a node tree. It returns nil after reporting a
// syntax error (the YAML parser stops at the first one).
func parseTree(src []byte, c *collector, getenv func(string) string) *node {
	f, err := parseYAML(src)
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) && se.Token != nil {
			msg := "YAML syntax: " + se.Message
			if strings.Contains(se.Message, "'\t'") {
				msg = strings.ReplaceAll(msg, "'\t'", `'\t'`) + " (indent YAML with spaces, not tabs)"
			}
			c.add(SeverityError, posOf(se.Token), "", msg)
		} else {
			c.add(SeverityError, pos{}, "", "YAML syntax: "+err.Error())
		}
		return nil
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if _, ok := d.Body.(*ast.CommentGroupNode); ok {
			continue
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return &node{kind: kindNull, pos: pos{1, 1}}
	}
	if len(docs) > 1 {
		c.add(SeverityError, posOf(docs[1].Body.GetToken()), "",
			"the config must be a single YAML document; found another one here")
	}
	b := &builder{diags: c, getenv: getenv, anchors: map[string]*node{}}
	return b.build(docs[0].Body, "")
}

// parseYAML runs the YAML parser, turning a panic inside it into an error
// so hostile input can never crash the caller.
func parseYAML(src []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the YAML parser failed on this input (%v)", r)
		}
	}()
	return parser.ParseBytes(src, 0)
}

func posOf(tk *token.Token) pos {
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}

// nodePos is where a value starts: a block mapping's first key rather than
// goccy's token (its first colon).
func nodePos(n ast.Node) pos {
	switch v := n.(type) {
	case *ast.MappingNode:
		if !v.IsFlowStyle && len(v.Values) > 0 {
			return posOf(v.Values[0].Key.GetToken())
		}
		if v.Start != nil {
			return posOf(v.Start)
		}
	case *ast.MappingValueNode:
		return posOf(v.Key.GetToken())
	}
	if n == nil {
		return pos{}
	}
	return posOf(n.GetToken())
}

func (b *builder) build(n ast.Node, path string) *node {
	out := b.build1(n, path)
	if out.size == 0 {
		out.size = 1
	}
	return out
}

// grow counts k more values and reports (once) when the config has become
// too big.
func (b *builder) grow(k int, p pos, path string) bool {
	if b.count > maxNodes {
		return false
	}
	b.count += k
	if b.count > maxNodes {
		b.diags.add(SeverityError, p, path, "the config expands to more than a million values (aliases?)")
		return false
	}
	return true
}

func (b *builder) build1(n ast.Node, path string) *node {
	p := nodePos(n)
	if !b.grow(1, p, path) {
		return &node{kind: kindNull, pos: p}
	}
	switch v := n.(type) {
	case nil:
		return &node{kind: kindNull}
	case *ast.NullNode, *ast.CommentGroupNode, *ast.CommentNode:
		return &node{kind: kindNull, pos: p}
	case *ast.BoolNode:
		return &node{kind: kindBool, pos: p, b: v.Value, str: v.Token.Value}
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return &node{kind: kindInt, pos: p, i: x, str: v.Token.Value}
		case uint64:
			if x <= math.MaxInt64 {
				return &node{kind: kindInt, pos: p, i: int64(x), str: v.Token.Value}
			}
			return &node{kind: kindFloat, pos: p, f: float64(x), str: v.Token.Value}
		}
		return &node{kind: kindString, pos: p, str: v.Token.Value}
	case *ast.FloatNode:
		return &node{kind: kindFloat, pos: p, f: v.Value, str: v.Token.Value}
	case *ast.InfinityNode:
		return &node{kind: kindFloat, pos: p, f: v.Value, str: v.Token.Value}
	case *ast.NanNode:
		return &node{kind: kindFloat, pos: p, f: math.NaN(), str: v.Token.Value}
	case *ast.StringNode:
		return &node{kind: kindString, pos: p, str: v.Value}
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &node{kind: kindString, pos: p, str: s, block: true}
	case *ast.AnchorNode:
		val := b.build(v.Value, path)
		if name, ok := scalarText(v.Name); ok {
			b.anchors[name] = val
		}
		return val
	case *ast.AliasNode:
		name, _ := scalarText(v.Value)
		if target, ok := b.anchors[name]; ok {
			if !b.grow(target.size, p, path) {
				return &node{kind: kindNull, pos: p}
			}
			return target
		}
		b.diags.add(SeverityError, p, path, fmt.Sprintf("alias *%s refers to no anchor &%s defined before it", name, name))
		return &node{kind: kindNull, pos: p}
	case *ast.TagNode:
		return b.tag(v, path)
	case *ast.MappingNode:
		return b.mapping(v.Values, p, path)
	case *ast.MappingValueNode:
		return b.mapping([]*ast.MappingValueNode{v}, p, path)
	case *ast.SequenceNode:
		out := &node{kind: kindSeq, pos: p}
		out.size = 1
		for i, item := range v.Values {
			it := b.build(item, fmt.Sprintf("%s[%d]", path, i))
			out.items = append(out.items, it)
			out.size += it.size
		}
		return out
	}
	b.diags.add(SeverityError, p, path, fmt.Sprintf("unsupported YAML construct (%s)", n.Type()))
	return &node{kind: kindNull, pos: p}
}

func (b *builder) mapping(values []*ast.MappingValueNode, p pos, path string) *node {
	out := &node{kind: kindMap, pos: p, size: 1}
	seen := map[string]bool{}
	var merges []*node
	for _, mv := range values {
		if mv.Key != nil && mv.Key.IsMergeKey() {
			merges = append(merges, b.build(mv.Value, path))
			continue
		}
		key, ok := scalarText(mv.Key)
		kp := posOf(mv.Key.GetToken())
		if !ok {
			b.diags.add(SeverityError, kp, path, "keys must be plain strings")
			continue
		}
		seen[key] = true
		val := b.build(mv.Value, joinPath(path, key))
		out.size += val.size
		out.entries = append(out.entries, entry{key: key, keyPos: kp, val: val})
	}
	// Merge keys (`<<: *base`): keys written in the mapping itself win.
	for _, m := range merges {
		var sources []*node
		switch m.kind {
		case kindMap:
			sources = []*node{m}
		case kindSeq:
			sources = m.items
		}
		for _, src := range sources {
			if src.kind != kindMap {
				b.diags.add(SeverityError, src.pos, path, "a merge key (<<) needs a mapping or a list of mappings")
				continue
			}
			for _, e := range src.entries {
				if !seen[e.key] {
					seen[e.key] = true
					out.size += e.val.size
					out.entries = append(out.entries, e)
				}
			}
		}
		if m.kind != kindMap && m.kind != kindSeq {
			b.diags.add(SeverityError, m.pos, path, "a merge key (<<) needs a mapping or a list of mappings")
		}
	}
	return out
}

// scalarText is the text of a scalar key or name node.
func scalarText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
		return v.GetToken().Value, true
	}
	return "", false
}

// tag handles `!env` and the standard `!!` tags; any other tag is an error.
func (b *builder) tag(t *ast.TagNode, path string) *node {
	p := posOf(t.Start)
	name := t.Start.Value
	switch name {
	case "!env":
		return b.env(t, p, path)
	case "!!str":
		v := b.build(t.Value, path)
		if v.kind != kindMap && v.kind != kindSeq && v.kind != kindString {
			v = &node{kind: kindString, pos: v.pos, str: v.str}
		}
		return v
	case "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!binary", "!!timestamp":
		return b.build(t.Value, path)
	}
	b.diags.add(SeverityError, p, path, fmt.Sprintf("unknown tag %s; the only tag service.yaml understands is !env", name))
	return &node{kind: kindNull, pos: p}
}

// env resolves `!env PS_NAME[::string|::number|::boolean]`.
func (b *builder) env(t *ast.TagNode, p pos, path string) *node {
	fail := func(at pos, msg string) *node {
		b.diags.add(SeverityError, at, path, msg)
		return &node{kind: kindNull, pos: p}
	}
	spec, ok := t.Value.(*ast.StringNode)
	if !ok || strings.TrimSpace(spec.Value) == "" {
		return fail(p, "!env needs a variable name after it, like `!env PS_DATABASE_URI`")
	}
	sp := posOf(spec.Token)
	name, typ, _ := strings.Cut(strings.TrimSpace(spec.Value), "::")
	name = strings.TrimSpace(name)
	typ = strings.TrimSpace(typ)
	if !validEnvName(name) {
		return fail(sp, fmt.Sprintf("!env %s: %q is not a valid environment variable name", spec.Value, name))
	}
	if !strings.HasPrefix(name, "PS_") {
		return fail(sp, fmt.Sprintf("!env %s: only variables whose names start with PS_ can be used in the config (this keeps the rest of the environment out of it)", name))
	}
	switch typ {
	case "", "string", "number", "boolean":
	default:
		return fail(sp, fmt.Sprintf("!env %s: unknown type ::%s; use ::string (the default), ::number or ::boolean", name, typ))
	}
	val := ""
	if b.getenv != nil {
		val = b.getenv(name)
	}
	if val == "" {
		return fail(sp, fmt.Sprintf("!env %s: the variable is not set (or is empty); set it in the environment", name))
	}
	out := &node{pos: p, env: name}
	switch typ {
	case "", "string":
		out.kind, out.str = kindString, val
	case "number":
		out.str = val
		if i, f, isInt, ok := parseNumber(val); !ok {
			return fail(sp, fmt.Sprintf("!env %s::number: %q is not a number", name, val))
		} else if isInt {
			out.kind, out.i = kindInt, i
		} else {
			out.kind, out.f = kindFloat, f
		}
	case "boolean":
		out.str = val
		switch strings.ToLower(strings.TrimSpace(val)) {
		case "true":
			out.kind, out.b = kindBool, true
		case "false":
			out.kind, out.b = kindBool, false
		default:
			return fail(sp, fmt.Sprintf("!env %s::boolean: %q is neither true nor false", name, val))
		}
	}
	return out
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// parseNumber reads a number the way the reference's ::number does: decimal,
// 0x/0o/0b integers, or a finite decimal fraction/exponent, spaces around
// ignored.
func parseNumber(s string) (i int64, f float64, isInt, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, false, false
	}
	body := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if len(body) > 2 && body[0] == '0' && strings.ContainsRune("xXoObB", rune(body[1])) {
		v, err := strconv.ParseInt(s, 0, 64)
		return v, float64(v), true, err == nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, float64(v), true, true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(s, "_nNiI") {
		return 0, 0, false, false
	}
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return int64(v), v, true, true
	}
	return 0, v, false, true
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
