package syncrules

import (
	"slices"
	"sort"
)

// Parse parses and compiles a sync config file. It collects every problem
// as a Diagnostic with its line and column in the YAML text. The returned
// Config is nil only when Diagnostics has a fatal error.
func Parse(yaml []byte, opts ParseOptions) (*Config, Diagnostics) {
	d := &diagList{file: newSrcFile(string(yaml))}
	spec := parseFileSpec(yaml, d)
	if spec == nil {
		return nil, d.list
	}
	c := &Config{opts: opts, events: spec.events}
	c.compat = resolveCompatibility(spec, opts, d)
	edition := c.compat.Edition

	if len(spec.with) > 0 && edition < 3 {
		d.atNode(spec.withNode, SeverityFatal, "Common table expressions require edition 3.")
	}
	switch {
	case edition >= 3:
		if spec.bucketDefsNode != nil {
			d.atNode(spec.bucketDefsNode, SeverityFatal, "'bucket_definitions' are not supported by the new compiler. Consider using https://powersync-community.github.io/bucket-definitions-to-sync-streams/ to translate them to streams.")
		}
		if spec.streamsNode == nil {
			d.atNode(spec.root, SeverityFatal, "'streams' are required.")
		}
		// The edition-3 compiler (edition3*.go) reports into d and returns
		// nil after a fatal problem.
		if s := compileEdition3(spec, c.compat, c.opts, d); s != nil {
			c.streams3 = s
		}
	default:
		if spec.bucketDefsNode == nil && spec.streamsNode == nil {
			d.atNode(spec.root, SeverityFatal, "'bucket_definitions' or 'streams' is required")
		}
		for _, b := range spec.buckets {
			c.compileBucketDefinition(b, d)
		}
		if len(spec.streams) > 0 {
			if edition < 2 {
				for _, st := range spec.streams {
					d.atNode(st.NameNode, SeverityFatal, "Sync streams require edition 2 or later. Try adding a `config: {edition: 2} block to the end of the file.")
				}
			} else {
				d.atNode(spec.streamsNode, SeverityWarning, "This is using an alpha version of Sync Streams. We recommend upgrading `config.edition` to version 3 to support the latest features.")
				for _, st := range spec.streams {
					c.compileAlphaStream(st, d)
				}
			}
		}
	}
	for _, e := range spec.events {
		for _, p := range e.Payloads {
			c.checkEventPayload(p, d)
		}
	}
	// Report in file order.
	sort.SliceStable(d.list, func(i, j int) bool {
		a, b := d.list[i], d.list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	// The same query compiled for several alpha-stream variants reports
	// the same problem once.
	d.list = slices.Compact(d.list)
	if d.list.HasFatal() {
		return nil, d.list
	}
	return c, d.list
}

// checkEventPayload validates an event_definitions payload query: a legacy
// single-table SELECT.
func (c *Config) checkEventPayload(sql *sqlText, d *diagList) {
	sel := parseQuery(sql, d)
	if sel == nil || !checkLegacyClauses(sel, sql, d) {
		return
	}
	if len(sel.From) != 1 || sel.From[0].Table.Name == "" {
		d.atSQL(sql, sql.whole(), SeverityFatal, "Must SELECT from a single table")
	}
}

// resolveCompatibility applies the edition defaults and checks the
// config block's switches (§2.2).
func resolveCompatibility(spec *fileSpec, opts ParseOptions, d *diagList) Compatibility {
	ed := spec.edition
	pick := func(v *bool, fixedIn int) bool {
		if v != nil {
			return *v
		}
		return ed >= fixedIn
	}
	c := Compatibility{
		Edition:                ed,
		TimestampsISO8601:      pick(spec.compat.timestampsISO8601, 2),
		VersionedBucketIDs:     pick(spec.compat.versionedBucketIDs, 2),
		FixedJSONExtract:       pick(spec.compat.fixedJSONExtract, 2),
		CustomPostgresTypes:    pick(spec.compat.customPostgresTypes, 2),
		SQLiteExpressionEngine: pick(spec.compat.sqliteExpressionEngine, 99),
		TimestampMaxPrecision:  -1,
		StorageVersion:         2,
	}
	if c.SQLiteExpressionEngine {
		n := spec.configNode
		if ed < 3 {
			d.atNode(n, SeverityFatal, "Enabling unstable_sqlite_expression_engine requires edition: 3")
		} else if !c.FixedJSONExtract {
			d.atNode(n, SeverityFatal, "Enabling unstable_sqlite_expression_engine requires fixed_json_extract")
		} else {
			d.atNode(n, SeverityWarning, "unstable_sqlite_expression_engine is not implemented here: expressions are evaluated with the default (JavaScript engine) semantics")
		}
	}
	if spec.compat.maxPrecisionNode != nil && spec.compat.maxPrecision != "" {
		digits, ok := precisionDigits(spec.compat.maxPrecision)
		switch {
		case !ok:
			d.atNode(spec.compat.maxPrecisionNode, SeverityFatal, "Unknown time precision, allowed are seconds, milliseconds, microseconds, nanoseconds")
		case !c.TimestampsISO8601:
			d.atNode(spec.compat.maxPrecisionNode, SeverityFatal, "'timestamp_max_precision' requires 'timestamps_iso8601' to be enabled.")
		default:
			c.TimestampMaxPrecision = digits
		}
	}
	if spec.compat.storageVersionNode != nil {
		switch v := spec.compat.storageVersion; v {
		case 2:
			c.StorageVersion = 2
		case 3:
			c.StorageVersion = 3
			d.atNode(spec.compat.storageVersionNode, SeverityWarning, "Storage version 3 is unstable, and may cause unexpected behavior or stop functioning in any release")
		default:
			d.atNode(spec.compat.storageVersionNode, SeverityFatal, "Storage version %d is not supported", v)
		}
	}
	if opts.StorageVersion > 0 {
		c.StorageVersion = opts.StorageVersion
	}
	return c
}
