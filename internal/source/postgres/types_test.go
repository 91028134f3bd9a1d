package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/source"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// typeCases: a column type, a literal, and the value the sync rules see
// (kind:text form), in the legacy and the ISO timestamp format.
var typeCases = []struct {
	col, typ, literal string
	legacy, iso       string // iso "" = same as legacy
}{
	{"c_bool_t", "boolean", "true", "integer:1", ""},
	{"c_bool_f", "boolean", "false", "integer:0", ""},
	{"c_int2", "smallint", "-12", "integer:-12", ""},
	{"c_int4", "integer", "2147483647", "integer:2147483647", ""},
	{"c_int8", "bigint", "9007199254740993", "integer:9007199254740993", ""},
	{"c_oid", "oid", "4000000000", "integer:4000000000", ""},
	{"c_float4", "real", "1.5", "real:1.5", ""},
	{"c_float8", "double precision", "0.1", "real:0.1", ""},
	{"c_numeric", "numeric(30,10)", "12345678901234567890.0123456789", "text:12345678901234567890.0123456789", ""},
	{"c_text", "text", "'héllo \"x\"'", `text:héllo "x"`, ""},
	{"c_varchar", "varchar(10)", "'abc'", "text:abc", ""},
	{"c_char", "char(4)", "'ab'", "text:ab  ", ""},
	{"c_uuid", "uuid", "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "text:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", ""},
	{"c_bytea", "bytea", `'\x00ff10'`, "blob:00ff10", ""},
	{"c_json", "json", `'{"a": [1, true]}'`, `text:{"a": [1, true]}`, ""},
	{"c_jsonb", "jsonb", `'{"b": 1, "a": null}'`, `text:{"a": null, "b": 1}`, ""},
	{"c_date", "date", "'2024-02-29'", "text:2024-02-29", ""},
	{"c_date_inf", "date", "'infinity'", "text:9999-12-31", ""},
	{"c_date_ninf", "date", "'-infinity'", "text:0000-01-01", ""},
	{"c_ts", "timestamp", "'2024-01-02 03:04:05.12'", "text:2024-01-02 03:04:05.12", "text:2024-01-02T03:04:05.120000"},
	{"c_ts0", "timestamp", "'2024-01-02 03:04:05'", "text:2024-01-02 03:04:05", "text:2024-01-02T03:04:05.000000"},
	{"c_tstz", "timestamptz", "'2024-01-02 03:04:05.123456+02'", "text:2024-01-02 01:04:05.123456Z", "text:2024-01-02T01:04:05.123456Z"},
	{"c_tstz_day", "timestamptz", "'2024-01-01 00:30:00-05:30'", "text:2024-01-01 06:00:00Z", "text:2024-01-01T06:00:00.000000Z"},
	{"c_tstz_inf", "timestamptz", "'infinity'", "text:9999-12-31 23:59:59Z", "text:9999-12-31T23:59:59Z"},
	{"c_tstz_ninf", "timestamptz", "'-infinity'", "text:0000-01-01 00:00:00Z", "text:0000-01-01T00:00:00Z"},
	{"c_time", "time", "'12:34:56.5'", "text:12:34:56.5", ""},
	{"c_interval", "interval", "'1 day 02:00:00'", "text:1 day 02:00:00", ""},
	{"c_lsn", "pg_lsn", "'1/A2'", "text:00000001/000000A2", ""},
	{"c_enum", "mood", "'happy'", "text:happy", ""},
	{"c_domain", "positive_int", "7", "integer:7", ""},
	{"c_composite", "pair", "ROW(1, 'x y')", `text:(1,"x y")`, ""},
	{"c_int_arr", "integer[]", "'{1,2,NULL,3}'", "text:[1,2,null,3]", ""},
	{"c_int_arr2", "integer[]", "'{{1,2},{3,4}}'", "text:[[1,2],[3,4]]", ""},
	{"c_text_arr", "text[]", `ARRAY['a', 'b,c', 'd"e', NULL, 'NULL', '']`, `text:["a","b,c","d\"e",null,"NULL",""]`, ""},
	{"c_esc_arr", "text[]", `ARRAY[E'tab\there\\', E'\b\f\x01', 'a' || chr(8232) || 'b' || chr(8233), '<&>', 'é😀']`,
		"text:[\"tab\\there\\\\\",\"\\b\\f\\u0001\",\"a\u2028b\u2029\",\"<&>\",\"é😀\"]", ""},
	{"c_bool_arr", "boolean[]", "'{t,f}'", "text:[1,0]", ""},
	{"c_float_arr", "float8[]", "'{1,2.5,1e21}'", "text:[1,2.5,1e+21]", ""},
	{"c_jsonb_arr", "jsonb[]", `ARRAY['{"a":1}'::jsonb, '[2]'::jsonb]`, `text:[{"a": 1},[2]]`, ""},
	{"c_uuid_arr", "uuid[]", "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]", `text:["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]`, ""},
	{"c_enum_arr", "mood[]", "'{sad,happy}'", `text:["sad","happy"]`, ""},
	{"c_numeric_arr", "numeric[]", "'{1.50,2}'", `text:["1.50","2"]`, ""},
	{"c_date_arr", "date[]", "'{2024-01-01,infinity}'", `text:["2024-01-01","9999-12-31"]`, ""},
	{"c_empty_arr", "integer[]", "'{}'", "text:[]", ""},
	{"c_null", "text", "NULL", "null:null", ""},
}

func typesSetup() (setup, insert string) {
	var cols, vals []string
	for _, c := range typeCases {
		cols = append(cols, c.col+" "+c.typ)
		vals = append(vals, c.literal)
	}
	setup = `CREATE TYPE mood AS ENUM ('sad', 'happy');
		CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
		CREATE TYPE pair AS (a int, b text);
		CREATE TABLE types (id int primary key, ` + strings.Join(cols, ", ") + `);
		CREATE PUBLICATION powersync FOR ALL TABLES;`
	insert = `INSERT INTO types VALUES (1, ` + strings.Join(vals, ", ") + `)`
	return setup, insert
}

func checkTypes(t *testing.T, label string, row sqlvalue.Row, iso bool) {
	t.Helper()
	for _, c := range typeCases {
		want := c.legacy
		if iso && c.iso != "" {
			want = c.iso
		}
		v, ok := row[c.col]
		if !ok {
			t.Errorf("%s: column %s missing", label, c.col)
			continue
		}
		got := v.Kind().String() + ":" + valueString(v)
		if c.col == "c_bytea" && v.Kind() == sqlvalue.KindBlob {
			got = "blob:" + valueString(v)
		}
		if got != want {
			t.Errorf("%s: %s (%s) = %s, want %s", label, c.col, c.typ, got, want)
		}
	}
}

// TestTypeMapping checks every mapped type, read by the snapshot and by the
// change stream, in both timestamp formats.
func TestTypeMapping(t *testing.T) {
	for _, iso := range []bool{false, true} {
		name := "legacy"
		if iso {
			name = "iso8601"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			setup, insert := typesSetup()
			e := newEnv(t, pgsource.Options{TimestampsISO8601: iso}, setup)
			tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "types"}})
			if err != nil || len(tables) != 1 {
				t.Fatalf("tables: %v %v", tables, err)
			}
			pos, fresh, err := e.src.Start(ctx, "powersync_1_abcd", 0)
			if err != nil || !fresh {
				t.Fatalf("start: %v fresh=%v", err, fresh)
			}
			e.exec(t, insert)

			var rows []sqlvalue.Row
			err = e.src.Snapshot(ctx, tables[0], nil, func(p source.SnapshotPage) error {
				rows = append(rows, p.Rows...)
				return nil
			})
			if err != nil || len(rows) != 1 {
				t.Fatalf("snapshot: %d rows, %v", len(rows), err)
			}
			checkTypes(t, "snapshot", rows[0], iso)

			rec := newRecorder()
			e.stream(t, "powersync_1_abcd", pos, tables, rec)
			changes := rec.waitChanges(t, 1)
			if changes[0].Kind != source.Insert {
				t.Fatalf("change kind %v", changes[0].Kind)
			}
			checkTypes(t, "stream", changes[0].Row, iso)
		})
	}
}

// TestTypesSyncedJSON: every mapped type, through the sync rules engine,
// becomes the expected value in the synced row JSON (BLOBs left out).
func TestTypesSyncedJSON(t *testing.T) {
	ctx := context.Background()
	setup, insert := typesSetup()
	e := newEnv(t, pgsource.Options{}, setup)
	e.exec(t, insert)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "types"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, diags := syncrules.Parse([]byte("bucket_definitions:\n  global:\n    data:\n      - SELECT * FROM types\n"),
		syncrules.ParseOptions{DefaultSchema: "public"})
	if cfg == nil || diags.HasFatal() {
		t.Fatalf("parse: %v", diags)
	}
	var row sqlvalue.Row
	if err := e.src.Snapshot(ctx, tables[0], nil, func(p source.SnapshotPage) error {
		row = p.Rows[0]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out, errs := cfg.EvaluateRow(tables[0].Ref, row)
	if len(errs) > 0 || len(out) != 1 {
		t.Fatalf("evaluate: %v %v", out, errs)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out[0].Data, &got); err != nil {
		t.Fatalf("synced data %s: %v", out[0].Data, err)
	}
	for _, c := range typeCases {
		kind, text, _ := strings.Cut(c.legacy, ":")
		raw, present := got[c.col]
		switch kind {
		case "blob":
			if present {
				t.Errorf("%s: BLOB synced as %s, want it left out", c.col, raw)
			}
			continue
		case "null":
			if string(raw) != "null" {
				t.Errorf("%s = %s, want null", c.col, raw)
			}
		case "integer", "real":
			if string(raw) != text {
				t.Errorf("%s (%s) = %s, want %s", c.col, c.typ, raw, text)
			}
		case "text":
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || s != text {
				t.Errorf("%s (%s) = %s, want the string %q", c.col, c.typ, raw, text)
			}
		}
	}
}

// TestCustomTypes: with custom_postgres_types, composites become JSON
// objects (nested, with arrays and NULL fields) and ranges JSON objects.
func TestCustomTypes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, pgsource.Options{CustomTypes: true}, `
		CREATE TYPE mood AS ENUM ('sad', 'happy');
		CREATE TYPE inner_t AS (n int, tags text[]);
		CREATE TYPE outer_t AS (label text, flag boolean, inner_v inner_t, m mood, note text);
		CREATE TABLE c (id int primary key, o outer_t, os outer_t[], r int4range, re int4range, ru numrange, p inner_t);
		CREATE PUBLICATION powersync FOR ALL TABLES;
		INSERT INTO c VALUES (1,
			ROW('a "quoted", label', true, ROW(7, ARRAY['x', 'y z']), 'happy', NULL)::outer_t,
			ARRAY[ROW('first', false, NULL, 'sad', 'n')::outer_t],
			'[1,10)', 'empty', '(,2.5]', ROW(NULL, '{}')::inner_t)`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	var row sqlvalue.Row
	if err := e.src.Snapshot(ctx, tables[0], nil, func(p source.SnapshotPage) error {
		row = p.Rows[0]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"o":  `{"label":"a \"quoted\", label","flag":1,"inner_v":{"n":7,"tags":["x","y z"]},"m":"happy","note":null}`,
		"os": `[{"label":"first","flag":0,"inner_v":null,"m":"sad","note":"n"}]`,
		"r":  `{"lower":1,"upper":10,"lower_exclusive":0,"upper_exclusive":1}`,
		"re": `"empty"`,
		"ru": `{"lower":null,"upper":"2.5","lower_exclusive":1,"upper_exclusive":0}`,
		"p":  `{"n":null,"tags":[]}`,
	}
	for col, w := range want {
		v := row[col]
		if v.Kind() != sqlvalue.KindText || v.Str() != w {
			t.Errorf("%s = %s %q, want %s", col, v.Kind(), v.Str(), w)
		}
		var x any
		if err := json.Unmarshal([]byte(v.Str()), &x); err != nil {
			t.Errorf("%s is not JSON: %v", col, err)
		}
	}
}
