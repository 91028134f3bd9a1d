package syncrules

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	yamlparser "github.com/goccy/go-yaml/parser"
	yamltoken "github.com/goccy/go-yaml/token"
)

// fileSpec is a sync config file as written: every key of the YAML with the
// node it came from, SQL strings with their offset maps. Parse builds it
// first and then hands it to the compilers: legacy bucket definitions and
// alpha streams (legacy.go), and the edition-3 stream compiler.
type fileSpec struct {
	file *srcFile
	root ast.Node

	configNode  ast.Node
	edition     int
	editionNode ast.Node
	compat      compatSpec

	bucketDefsNode ast.Node // nil when the key is absent
	buckets        []*bucketSpec
	streamsNode    ast.Node
	streams        []*streamSpec
	withNode       ast.Node
	with           []*cteSpec
	eventsNode     ast.Node
	events         []*eventSpec
}

// compatSpec holds the explicit compatibility switches of the config block
// (nil = not written).
type compatSpec struct {
	timestampsISO8601      *bool
	versionedBucketIDs     *bool
	fixedJSONExtract       *bool
	customPostgresTypes    *bool
	sqliteExpressionEngine *bool
	maxPrecision           string
	maxPrecisionNode       ast.Node
	storageVersion         int
	storageVersionNode     ast.Node
}

// bucketSpec is one entry of bucket_definitions.
type bucketSpec struct {
	Name            string
	NameNode        ast.Node
	Node            ast.Node
	Parameters      []*sqlText
	ParametersSet   bool
	Data            []*sqlText
	Priority        int
	PrioritySet     bool
	PriorityNode    ast.Node
	AcceptDangerous bool
}

// streamSpec is one entry of streams, kept as written for the alpha
// (edition 2) compiler here and the edition-3 compiler.
type streamSpec struct {
	Name            string
	NameNode        ast.Node
	Node            ast.Node
	Query           *sqlText // `query`
	QueryNode       ast.Node
	Queries         []*sqlText // `queries`
	QueriesNode     ast.Node
	With            []*cteSpec
	WithNode        ast.Node
	AutoSubscribe   bool
	Priority        int // 3 unless PrioritySet
	PrioritySet     bool
	PriorityNode    ast.Node
	AcceptDangerous bool
}

// cteSpec is one common table expression (global `with` or a stream's).
type cteSpec struct {
	Name     string
	NameNode ast.Node
	SQL      *sqlText
}

// eventSpec is one entry of event_definitions (parsed and kept; the
// service does not use events yet).
type eventSpec struct {
	Name     string
	NameNode ast.Node
	Payloads []*sqlText
}

// unwrapNode strips tags and anchors.
func unwrapNode(n ast.Node) ast.Node {
	for i := 0; i < 16; i++ {
		switch x := n.(type) {
		case *ast.TagNode:
			n = x.Value
		case *ast.AnchorNode:
			n = x.Value
		default:
			return n
		}
	}
	return n
}

func isNullNode(n ast.Node) bool {
	n = unwrapNode(n)
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

// isEmptyNode reports a null or an empty sequence, accepted where a map of
// definitions is expected.
func isEmptyNode(n ast.Node) bool {
	if isNullNode(n) {
		return true
	}
	seq, ok := unwrapNode(n).(*ast.SequenceNode)
	return ok && len(seq.Values) == 0
}

// scalarKey reports whether a mapping key is a scalar (names must be).
func scalarKey(mv *ast.MappingValueNode) bool {
	k := unwrapNode(mv.Key)
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		k = unwrapNode(mk.Value)
	}
	switch k.(type) {
	case *ast.SequenceNode, *ast.MappingNode, *ast.MappingValueNode:
		return false
	}
	return true
}

// keyName returns a mapping key's text.
func keyName(mv *ast.MappingValueNode) string {
	k := unwrapNode(mv.Key)
	switch k := k.(type) {
	case *ast.StringNode:
		return k.Value
	case *ast.MappingKeyNode:
		return fmt.Sprint(unwrapNode(k.Value))
	}
	if k == nil {
		return ""
	}
	return k.GetToken().Value
}

func mappingOf(n ast.Node) (*ast.MappingNode, bool) {
	n = unwrapNode(n)
	switch m := n.(type) {
	case *ast.MappingNode:
		return m, true
	case *ast.MappingValueNode:
		return &ast.MappingNode{BaseNode: m.BaseNode, Values: []*ast.MappingValueNode{m}}, true
	}
	return nil, false
}

// mapOrReport is mappingOf that reports a fatal "Expected a map here." at n
// when n is not a mapping.
func mapOrReport(n ast.Node, d *diagList) (*ast.MappingNode, bool) {
	m, ok := mappingOf(n)
	if !ok {
		d.atNode(n, SeverityFatal, "Expected a map here.")
	}
	return m, ok
}

// scalarString returns the text of a scalar node (strings, block scalars,
// numbers and booleans written where SQL is expected) and a sqlText map.
func (s *fileSpec) scalarSQL(n ast.Node, d *diagList) (*sqlText, bool) {
	n = unwrapNode(n)
	switch x := n.(type) {
	case *ast.StringNode:
		return newSQLText(s.file, x, x.Value), true
	case *ast.LiteralNode:
		return newSQLText(s.file, x, x.Value.Value), true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return newSQLText(s.file, x, x.GetToken().Value), true
	}
	d.atNode(n, SeverityFatal, "Expected a scalar here.")
	return nil, false
}

func (s *fileSpec) sqlList(n ast.Node, d *diagList) []*sqlText {
	seq, ok := unwrapNode(n).(*ast.SequenceNode)
	if !ok {
		d.atNode(n, SeverityFatal, "Expected a sequence here.")
		return nil
	}
	var out []*sqlText
	for _, v := range seq.Values {
		if t, ok := s.scalarSQL(v, d); ok {
			out = append(out, t)
		}
	}
	return out
}

func boolOf(n ast.Node, d *diagList) (bool, bool) {
	if b, ok := unwrapNode(n).(*ast.BoolNode); ok {
		return b.Value, true
	}
	d.atNode(n, SeverityFatal, "must be a boolean")
	return false, false
}

func intOf(n ast.Node) (int64, bool) {
	switch x := unwrapNode(n).(type) {
	case *ast.IntegerNode:
		switch v := x.Value.(type) {
		case int64:
			return v, true
		case uint64:
			return int64(v), v < 1<<62
		}
	case *ast.FloatNode:
		if x.Value == float64(int64(x.Value)) {
			return int64(x.Value), true
		}
	}
	return 0, false
}

// parseFileSpec parses YAML text into a fileSpec, reporting every
// structural problem.
func parseFileSpec(text []byte, d *diagList) *fileSpec {
	s := &fileSpec{file: d.file, edition: 1}
	f, err := yamlparser.ParseBytes(text, 0)
	if err != nil {
		msg := err.Error()
		start := 0
		if te, ok := err.(interface{ GetToken() *yamltoken.Token }); ok && te.GetToken() != nil {
			start = d.file.tokenOffset(te.GetToken())
		}
		if m, ok := err.(interface{ GetMessage() string }); ok {
			msg = m.GetMessage()
		}
		d.addRange(SeverityFatal, start, start+1, "Invalid YAML: "+msg)
		return nil
	}
	if len(f.Docs) == 0 || isNullNode(f.Docs[0].Body) {
		d.addRange(SeverityFatal, 0, 0, "Sync Config must be a YAML map.")
		return nil
	}
	if len(f.Docs) > 1 {
		d.atNode(f.Docs[1].Body, SeverityFatal, "Only one YAML document is supported.")
	}
	root, ok := mappingOf(f.Docs[0].Body)
	if !ok {
		d.atNode(f.Docs[0].Body, SeverityFatal, "Sync Config must be a YAML map.")
		return nil
	}
	s.root = root
	for _, mv := range root.Values {
		if !scalarKey(mv) {
			d.atNode(mv.Key, SeverityFatal, "Unexpected additional key.")
			continue
		}
		key := keyName(mv)
		switch key {
		case "config":
			s.configNode = mv.Value
			s.parseConfigBlock(mv.Value, d)
		case "bucket_definitions":
			s.bucketDefsNode = mv.Key
			s.parseBuckets(mv.Value, d)
		case "streams":
			s.streamsNode = mv.Key
			s.parseStreams(mv.Value, d)
		case "with":
			s.withNode = mv.Key
			s.with = s.parseCTEs(mv.Value, d)
		case "event_definitions":
			s.eventsNode = mv.Key
			s.parseEvents(mv.Value, d)
		default:
			d.atNode(mv.Key, SeverityFatal, "Unknown key '%s'.", key)
		}
	}
	// Names are one namespace for buckets and streams.
	seen := map[string]bool{}
	for _, b := range s.buckets {
		if seen[b.Name] {
			d.atNode(b.NameNode, SeverityFatal, "Duplicate stream or bucket definition.")
		}
		seen[b.Name] = true
	}
	for _, st := range s.streams {
		if seen[st.Name] {
			d.atNode(st.NameNode, SeverityFatal, "Duplicate stream or bucket definition.")
		}
		seen[st.Name] = true
	}
	return s
}

func (s *fileSpec) parseConfigBlock(n ast.Node, d *diagList) {
	if isNullNode(n) {
		return
	}
	m, ok := mapOrReport(n, d)
	if !ok {
		return
	}
	for _, mv := range m.Values {
		key := keyName(mv)
		boolOpt := func(dst **bool) {
			if b, ok := boolOf(mv.Value, d); ok {
				*dst = &b
			}
		}
		switch key {
		case "edition":
			s.editionNode = mv.Value
			v, ok := intOf(mv.Value)
			switch {
			case !ok:
				d.atNode(mv.Value, SeverityFatal, "must be numeric")
			case v < 1 || v > 3:
				d.atNode(mv.Value, SeverityFatal, "Unsupported edition %d: expected 1, 2 or 3", v)
			default:
				s.edition = int(v)
			}
		case "timestamps_iso8601":
			boolOpt(&s.compat.timestampsISO8601)
		case "versioned_bucket_ids":
			boolOpt(&s.compat.versionedBucketIDs)
		case "fixed_json_extract":
			boolOpt(&s.compat.fixedJSONExtract)
		case "custom_postgres_types":
			boolOpt(&s.compat.customPostgresTypes)
		case "unstable_sqlite_expression_engine":
			boolOpt(&s.compat.sqliteExpressionEngine)
		case "timestamp_max_precision":
			s.compat.maxPrecisionNode = mv.Value
			str, ok := unwrapNode(mv.Value).(*ast.StringNode)
			if !ok {
				d.atNode(mv.Value, SeverityFatal, "must be a string")
				continue
			}
			s.compat.maxPrecision = str.Value
		case "storage_version":
			s.compat.storageVersionNode = mv.Value
			v, ok := intOf(mv.Value)
			if !ok {
				d.atNode(mv.Value, SeverityFatal, "must be numeric")
				continue
			}
			s.compat.storageVersion = int(v)
		default:
			d.atNode(mv.Key, SeverityFatal, "Unknown key '%s'.", key)
		}
	}
}

func (s *fileSpec) parsePriority(n ast.Node, d *diagList) (int, bool) {
	v, ok := intOf(n)
	if !ok || v < 0 || v > 3 {
		d.atNode(n, SeverityFatal, "Invalid priority, expected a number between 0 and 3 (inclusive).")
		return 0, false
	}
	return int(v), true
}

func (s *fileSpec) parseBuckets(n ast.Node, d *diagList) {
	if isEmptyNode(n) {
		return
	}
	m, ok := mapOrReport(n, d)
	if !ok {
		return
	}
	for _, mv := range m.Values {
		if !scalarKey(mv) {
			d.atNode(mv.Key, SeverityFatal, "Expected a scalar here.")
			continue
		}
		b := &bucketSpec{Name: keyName(mv), NameNode: mv.Key, Node: mv.Value}
		def, ok := mappingOf(mv.Value)
		if !ok {
			d.atNode(mv.Key, SeverityFatal, "'%s' bucket definition must be an object", b.Name)
			continue
		}
		hasData := false
		for _, kv := range def.Values {
			switch key := keyName(kv); key {
			case "parameters":
				b.ParametersSet = true
				switch unwrapNode(kv.Value).(type) {
				case *ast.SequenceNode:
					b.Parameters = s.sqlList(kv.Value, d)
				case *ast.StringNode, *ast.LiteralNode:
					if t, ok := s.scalarSQL(kv.Value, d); ok {
						b.Parameters = []*sqlText{t}
					}
				default:
					d.atNode(kv.Value, SeverityFatal, "Parameters must be a string or array of strings")
				}
			case "data":
				hasData = true
				if isNullNode(kv.Value) {
					continue
				}
				b.Data = s.sqlList(kv.Value, d)
			case "priority":
				b.PriorityNode = kv.Value
				if p, ok := s.parsePriority(kv.Value, d); ok {
					b.Priority, b.PrioritySet = p, true
				}
			case "accept_potentially_dangerous_queries":
				b.AcceptDangerous, _ = boolOf(kv.Value, d)
			default:
				d.atNode(kv.Key, SeverityFatal, "Unknown key '%s'.", key)
			}
		}
		if !hasData {
			at := ast.Node(mv.Key)
			if len(def.Values) > 0 {
				at = def.Values[0].Key
			}
			d.atNode(at, SeverityFatal, "Missing required keys: data")
		}
		s.buckets = append(s.buckets, b)
	}
}

func (s *fileSpec) parseStreams(n ast.Node, d *diagList) {
	if isEmptyNode(n) {
		return
	}
	m, ok := mapOrReport(n, d)
	if !ok {
		return
	}
	for _, mv := range m.Values {
		if !scalarKey(mv) {
			d.atNode(mv.Key, SeverityFatal, "Expected a scalar here.")
			continue
		}
		st := &streamSpec{Name: keyName(mv), NameNode: mv.Key, Node: mv.Value, Priority: 3}
		def, ok := mappingOf(mv.Value)
		if !ok {
			d.atNode(mv.Value, SeverityFatal, "Expected a map here.")
			continue
		}
		for _, kv := range def.Values {
			switch key := keyName(kv); key {
			case "query":
				st.QueryNode = kv.Value
				if t, ok := s.scalarSQL(kv.Value, d); ok {
					st.Query = t
				}
			case "queries":
				st.QueriesNode = kv.Key
				st.Queries = s.sqlList(kv.Value, d)
			case "with":
				st.WithNode = kv.Key
				st.With = s.parseCTEs(kv.Value, d)
			case "auto_subscribe":
				st.AutoSubscribe, _ = boolOf(kv.Value, d)
			case "priority":
				st.PriorityNode = kv.Value
				if p, ok := s.parsePriority(kv.Value, d); ok {
					st.Priority, st.PrioritySet = p, true
				}
			case "accept_potentially_dangerous_queries":
				st.AcceptDangerous, _ = boolOf(kv.Value, d)
			default:
				d.atNode(kv.Key, SeverityFatal, "Unknown key '%s'.", key)
			}
		}
		if (st.QueryNode == nil) == (st.QueriesNode == nil) {
			d.atNode(mv.Key, SeverityFatal, "One of `queries` or `query` must be given.")
		}
		s.streams = append(s.streams, st)
	}
}

func (s *fileSpec) parseCTEs(n ast.Node, d *diagList) []*cteSpec {
	if isNullNode(n) {
		return nil
	}
	m, ok := mappingOf(n)
	if !ok {
		d.atNode(n, SeverityFatal, "Expected a map here.")
		return nil
	}
	var out []*cteSpec
	for _, mv := range m.Values {
		if !scalarKey(mv) {
			d.atNode(mv.Key, SeverityFatal, "Expected a scalar here.")
			continue
		}
		c := &cteSpec{Name: keyName(mv), NameNode: mv.Key}
		if t, ok := s.scalarSQL(mv.Value, d); ok {
			c.SQL = t
			out = append(out, c)
		}
	}
	return out
}

func (s *fileSpec) parseEvents(n ast.Node, d *diagList) {
	if isNullNode(n) {
		return
	}
	m, ok := mapOrReport(n, d)
	if !ok {
		return
	}
	for _, mv := range m.Values {
		if !scalarKey(mv) {
			d.atNode(mv.Key, SeverityFatal, "Expected a scalar here.")
			continue
		}
		e := &eventSpec{Name: keyName(mv), NameNode: mv.Key}
		def, ok := mappingOf(mv.Value)
		if !ok {
			d.atNode(mv.Value, SeverityFatal, "Expected a map here.")
			continue
		}
		for _, kv := range def.Values {
			switch key := keyName(kv); key {
			case "payloads":
				e.Payloads = s.sqlList(kv.Value, d)
			default:
				d.atNode(kv.Key, SeverityFatal, "Unknown key '%s'.", key)
			}
		}
		s.events = append(s.events, e)
	}
}

// precisionDigits maps timestamp_max_precision names to digits.
func precisionDigits(name string) (int, bool) {
	switch strings.ToLower(name) {
	case "seconds":
		return 0, true
	case "milliseconds":
		return 3, true
	case "microseconds":
		return 6, true
	case "nanoseconds":
		return 9, true
	}
	return 0, false
}
