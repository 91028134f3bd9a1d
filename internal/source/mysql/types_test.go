package mysql_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// typeCases are MySQL/MariaDB column types with a value and the sync rules
// value it becomes (docs/mysql.md has the same table).
var typeCases = []struct {
	col, typ, lit, want string
}{
	{"c_tinyint", "TINYINT", "-7", "integer:-7"},
	{"c_tinyint_u", "TINYINT UNSIGNED", "250", "integer:250"},
	{"c_bool", "BOOLEAN", "TRUE", "integer:1"},
	{"c_smallint", "SMALLINT", "-32768", "integer:-32768"},
	{"c_smallint_u", "SMALLINT UNSIGNED", "65535", "integer:65535"},
	{"c_mediumint", "MEDIUMINT", "-8388608", "integer:-8388608"},
	{"c_mediumint_u", "MEDIUMINT UNSIGNED", "16777215", "integer:16777215"},
	{"c_int", "INT", "-2147483648", "integer:-2147483648"},
	{"c_int_u", "INT UNSIGNED", "4294967295", "integer:4294967295"},
	{"c_bigint", "BIGINT", "-9223372036854775808", "integer:-9223372036854775808"},
	{"c_bigint_u", "BIGINT UNSIGNED", "9223372036854775807", "integer:9223372036854775807"},
	{"c_bigint_u_big", "BIGINT UNSIGNED", "18446744073709551615", "text:18446744073709551615"},
	{"c_float", "FLOAT", "1.5", "real:1.5"},
	{"c_float_frac", "FLOAT", "0.1", "real:0.10000000149011612"},
	{"c_double", "DOUBLE", "-2.25e-10", "real:-2.25e-10"},
	{"c_decimal", "DECIMAL(20,6)", "-12345678901234.000001", "text:-12345678901234.000001"},
	{"c_decimal_small", "DECIMAL(5,2)", "0.5", "text:0.50"},
	{"c_decimal_int", "DECIMAL(30,0)", "123456789012345678901234567890", "text:123456789012345678901234567890"},
	{"c_bit", "BIT(12)", "b'101000000001'", "integer:2561"},
	{"c_year", "YEAR", "2024", "integer:2024"},
	{"c_date", "DATE", "'2024-02-29'", "text:2024-02-29"},
	{"c_datetime", "DATETIME", "'2024-01-02 03:04:05'", "text:2024-01-02T03:04:05.000Z"},
	{"c_datetime6", "DATETIME(6)", "'2024-01-02 03:04:05.123456'", "text:2024-01-02T03:04:05.123Z"},
	{"c_datetime3", "DATETIME(3)", "'1999-12-31 23:59:59.5'", "text:1999-12-31T23:59:59.500Z"},
	{"c_timestamp", "TIMESTAMP NULL", "'2038-01-19 03:14:07'", "text:2038-01-19T03:14:07.000Z"},
	{"c_timestamp6", "TIMESTAMP(6) NULL", "'2024-06-01 12:00:00.000001'", "text:2024-06-01T12:00:00.000Z"},
	{"c_time", "TIME", "'-838:59:59'", "text:-838:59:59"},
	{"c_time3", "TIME(3)", "'12:34:56.789'", "text:12:34:56.789"},
	{"c_time6", "TIME(6)", "'-00:00:01.000001'", "text:-00:00:01.000001"},
	{"c_char", "CHAR(10)", "'abc'", "text:abc"},
	{"c_varchar", "VARCHAR(300)", "'héllo wörld ✓'", "text:héllo wörld ✓"},
	{"c_tinytext", "TINYTEXT", "'t'", "text:t"},
	{"c_text", "TEXT", "'a long text'", "text:a long text"},
	{"c_mediumtext", "MEDIUMTEXT", "'m'", "text:m"},
	{"c_longtext", "LONGTEXT", "'l'", "text:l"},
	{"c_binary", "BINARY(4)", "x'0102'", "blob:01020000"},
	{"c_varbinary", "VARBINARY(10)", "x'00ff10'", "blob:00ff10"},
	{"c_tinyblob", "TINYBLOB", "x'01'", "blob:01"},
	{"c_blob", "BLOB", "x'deadbeef'", "blob:deadbeef"},
	{"c_mediumblob", "MEDIUMBLOB", "x'cafe'", "blob:cafe"},
	{"c_longblob", "LONGBLOB", "x'00'", "blob:00"},
	{"c_enum", "ENUM('small','medium','large')", "'medium'", "text:medium"},
	{"c_set", "SET('a','b','c','d')", "'a,d'", "text:a,d"},
	{"c_json", "JSON", `'{"a": [1, 2.5, "x"]}'`, `text:{"a": [1, 2.5, "x"]}`},
	{"c_uuid", "UUID", "'123e4567-e89b-12d3-a456-426614174000'", "text:123e4567-e89b-12d3-a456-426614174000"},
	{"c_uuid4", "UUID", "'f47ac10b-58cc-4372-a567-0e02b2c3d479'", "text:f47ac10b-58cc-4372-a567-0e02b2c3d479"},
	{"c_inet6", "INET6", "'2001:db8::ff00:42:8329'", "text:2001:db8::ff00:42:8329"},
	{"c_inet6_v4", "INET6", "'::ffff:192.0.2.1'", "text:::ffff:192.0.2.1"},
	{"c_inet4", "INET4", "'192.0.2.1'", "text:192.0.2.1"},
	{"c_inet4_zero", "INET4", "'10.0.0.0'", "text:10.0.0.0"},
	{"c_inet6_zero", "INET6", "'2001:db8::'", "text:2001:db8::"},
	{"c_uuid_zero", "UUID", "'00000000-0000-0000-0000-000000000000'", "text:00000000-0000-0000-0000-000000000000"},
	{"c_binary_zero", "BINARY(3)", "x'000000'", "blob:000000"},
	{"c_char_space", "CHAR(5)", "'ab  '", "text:ab"},
	{"c_varchar_space", "VARCHAR(5)", "'ab  '", "text:ab  "},
	{"c_empty", "VARCHAR(5)", "''", "text:"},
	{"c_point", "POINT", "ST_GeomFromText('POINT(1 2)')", "blob:000000000101000000000000000000f03f0000000000000040"},
	{"c_null", "INT", "NULL", "null:"},
}

// Every mapped type converts to the same sync rules value from the snapshot
// (text protocol) and from the binary log (row images), and to the value
// the mapping table documents.
func TestTypes(t *testing.T) {
	ctx := context.Background()
	var cols, lits []string
	for _, c := range typeCases {
		cols = append(cols, c.col+" "+c.typ)
		lits = append(lits, c.lit)
	}
	e := newEnv(t, mysqlsource.Options{},
		`CREATE TABLE typed (id INT PRIMARY KEY, `+strings.Join(cols, ", ")+`)`,
		`INSERT INTO typed VALUES (1, `+strings.Join(lits, ", ")+`)`)
	tables, err := e.src.Tables(ctx, []sqlvalue.TablePattern{{Name: "typed"}})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := e.src.Start(ctx, "powersync_1_type", 0)
	if err != nil {
		t.Fatal(err)
	}
	var snap sqlvalue.Row
	err = e.src.Snapshot(ctx, tables[0], nil, func(p mysqlsourcePage) error {
		snap = p.Rows[0]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	errc := e.stream(t, "powersync_1_type", pos, tables, rec)
	e.exec(t, `INSERT INTO typed VALUES (2, `+strings.Join(lits, ", ")+`)`)
	changes := rec.waitChanges(t, errc, 1)
	streamed := changes[0].Row
	// The JSON the clients get (SELECT * FROM typed): numbers, strings and
	// nulls as the mapping says; blobs are not synced.
	rules, err := compileRules("bucket_definitions:\n  all:\n    data:\n      - SELECT * FROM typed\n", 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, row := range map[string]sqlvalue.Row{"snapshot": snap, "binlog": streamed} {
		out, errs := rules.EvaluateRow(tables[0].Ref, row)
		if len(errs) > 0 || len(out) != 1 {
			t.Fatalf("%s: evaluate: %v %v", name, out, errs)
		}
		var synced map[string]json.RawMessage
		if err := json.Unmarshal(out[0].Data, &synced); err != nil {
			t.Fatalf("%s: synced data %s: %v", name, out[0].Data, err)
		}
		for _, c := range typeCases {
			kind, val, _ := strings.Cut(c.want, ":")
			var want string
			switch kind {
			case "integer", "real":
				want = val
			case "text":
				b, _ := json.Marshal(val)
				want = string(b)
			case "null":
				want = "null"
			case "blob":
				if got, ok := synced[c.col]; ok {
					t.Errorf("%s: blob column %s synced as %s", name, c.col, got)
				}
				continue
			}
			var gotV, wantV any
			_ = json.Unmarshal(synced[c.col], &gotV)
			_ = json.Unmarshal([]byte(want), &wantV)
			if string(synced[c.col]) != want && !(kind == "real" && gotV == wantV) {
				t.Errorf("%s: %s %s synced as %s, want %s", name, c.col, c.typ, synced[c.col], want)
			}
		}
	}
	for _, c := range typeCases {
		for name, row := range map[string]sqlvalue.Row{"snapshot": snap, "binlog": streamed} {
			v, ok := row[c.col]
			if !ok {
				t.Errorf("%s: %s missing", name, c.col)
				continue
			}
			if got := valueString(v); got != c.want {
				t.Errorf("%s: %s %s = %s, want %s", name, c.col, c.typ, got, c.want)
			}
		}
	}
}
