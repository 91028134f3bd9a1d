package client

import (
	"fmt"
	"regexp"
	"strings"
)

// ColumnType is the SQLite type of a column in the client schema.
type ColumnType string

// Column types; synced values are stored as JSON and cast to these.
const (
	Text    ColumnType = "TEXT"
	Integer ColumnType = "INTEGER"
	Real    ColumnType = "REAL"
)

// Column is one column of a table besides id.
type Column struct {
	Name string
	Type ColumnType
}

// Table describes one table of the client schema. Synced rows whose
// object_type equals Name become rows of the view Name. Every table has an
// implicit TEXT primary key column id.
type Table struct {
	Name    string
	Columns []Column
	// LocalOnly tables are never synced and their writes are not uploaded.
	LocalOnly bool
	// InsertOnly tables record inserts in the upload queue but keep no rows.
	InsertOnly bool
}

// Schema is the set of tables the application sees.
type Schema struct {
	Tables []Table
}

// NewTable is shorthand for a Table with the given columns; cols alternates
// names and types: NewTable("todos", "description", client.Text, ...).
func NewTable(name string, cols ...any) Table {
	t := Table{Name: name}
	for i := 0; i+1 < len(cols); i += 2 {
		n, _ := cols[i].(string)
		ty, _ := cols[i+1].(ColumnType)
		t.Columns = append(t.Columns, Column{Name: n, Type: ty})
	}
	return t
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate reports the first problem of the schema, naming the table and
// column.
func (s Schema) Validate() error {
	seen := map[string]bool{}
	for i, t := range s.Tables {
		if !identRE.MatchString(t.Name) {
			return fmt.Errorf("schema: table %d: name %q is not a plain identifier", i, t.Name)
		}
		lower := strings.ToLower(t.Name)
		if strings.HasPrefix(lower, "ps_") || strings.HasPrefix(lower, "sqlite_") {
			return fmt.Errorf("schema: table %q: names starting with ps_ or sqlite_ are reserved", t.Name)
		}
		if seen[lower] {
			return fmt.Errorf("schema: table %q is defined twice", t.Name)
		}
		seen[lower] = true
		cols := map[string]bool{"id": true}
		for _, c := range t.Columns {
			if !identRE.MatchString(c.Name) {
				return fmt.Errorf("schema: table %q: column name %q is not a plain identifier", t.Name, c.Name)
			}
			if cols[strings.ToLower(c.Name)] {
				return fmt.Errorf("schema: table %q: column %q is defined twice (id is implicit)", t.Name, c.Name)
			}
			cols[strings.ToLower(c.Name)] = true
			switch c.Type {
			case Text, Integer, Real:
			default:
				return fmt.Errorf("schema: table %q: column %q has type %q, want TEXT, INTEGER or REAL", t.Name, c.Name, c.Type)
			}
		}
	}
	return nil
}

func (s Schema) table(name string) (Table, bool) {
	for _, t := range s.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// dataTable is where the synced and local rows of t live: (id, data JSON).
func dataTable(name string) string { return "ps_data__" + name }

// schemaSQL returns the statements that create t's storage table, its view
// and the triggers that turn writes on the view into row changes plus
// upload-queue entries.
func (t Table) schemaSQL() []string {
	data := quoteIdent(dataTable(t.Name))
	view := quoteIdent(t.Name)
	var sel, obj []string
	sel = append(sel, "id")
	for _, c := range t.Columns {
		sel = append(sel, fmt.Sprintf("CAST(json_extract(data, %s) AS %s) AS %s", quoteString("$."+c.Name), c.Type, quoteIdent(c.Name)))
	}
	jsonOf := func(row string) string {
		obj = obj[:0]
		for _, c := range t.Columns {
			obj = append(obj, quoteString(c.Name), row+"."+quoteIdent(c.Name))
		}
		return "json_object(" + strings.Join(obj, ", ") + ")"
	}
	crud := func(op, row, data string) string {
		if t.LocalOnly {
			return ""
		}
		entry := fmt.Sprintf("json_object('op', '%s', 'type', %s, 'id', %s.id", op, quoteString(t.Name), row)
		if data != "" {
			entry += ", 'data', json(" + data + ")"
		}
		entry += ")"
		// The row is recomputed from synced data at the next full apply,
		// so a write the backend rejected does not linger.
		// For an insert, <row>.id is rewritten to read the new row's id
		// through last_insert_rowid(); ps_updated_rows is WITHOUT ROWID, so
		// inserting into it leaves that value alone for the ps_crud insert.
		return fmt.Sprintf(`INSERT OR IGNORE INTO ps_updated_rows (row_type, row_id, priority) VALUES (%s, %s.id, %d);
  INSERT INTO ps_crud (tx_id, data) VALUES ((SELECT value FROM ps_kv WHERE key = 'tx_id'), %s);
  INSERT OR REPLACE INTO ps_kv (key, value) VALUES ('target_op', %d);
`, quoteString(t.Name), row, DefaultPriority, entry, maxOpID)
	}
	newID := "COALESCE(NEW.id, " + uuidSQL + ")"
	stmts := []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (id TEXT PRIMARY KEY NOT NULL, data TEXT)", data),
		fmt.Sprintf("DROP VIEW IF EXISTS %s", view),
		fmt.Sprintf("CREATE VIEW %s AS SELECT %s FROM %s", view, strings.Join(sel, ", "), data),
	}
	if t.InsertOnly {
		stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER %s INSTEAD OF INSERT ON %s FOR EACH ROW BEGIN
  INSERT INTO ps_crud (tx_id, data) VALUES ((SELECT value FROM ps_kv WHERE key = 'tx_id'), json_object('op', 'PUT', 'type', %s, 'id', %s, 'data', json(%s)));
END`, quoteIdent("ps_insert__"+t.Name), view, quoteString(t.Name), newID, jsonOf("NEW")))
		return stmts
	}
	stmts = append(stmts,
		fmt.Sprintf(`CREATE TRIGGER %s INSTEAD OF INSERT ON %s FOR EACH ROW BEGIN
  INSERT INTO %s (id, data) VALUES (%s, %s);
  %sEND`, quoteIdent("ps_insert__"+t.Name), view, data, newID, jsonOf("NEW"),
			strings.ReplaceAll(crud("PUT", "NEW", jsonOf("NEW")), "NEW.id", "(SELECT id FROM "+data+" WHERE rowid = last_insert_rowid())")),
		fmt.Sprintf(`CREATE TRIGGER %s INSTEAD OF UPDATE ON %s FOR EACH ROW BEGIN
  SELECT RAISE(FAIL, 'cannot change the id of a row') WHERE OLD.id IS NOT NEW.id;
  UPDATE %s SET data = %s WHERE id = OLD.id;
  %sEND`, quoteIdent("ps_update__"+t.Name), view, data, jsonOf("NEW"), crud("PATCH", "OLD", jsonOf("NEW"))),
		fmt.Sprintf(`CREATE TRIGGER %s INSTEAD OF DELETE ON %s FOR EACH ROW BEGIN
  DELETE FROM %s WHERE id = OLD.id;
  %sEND`, quoteIdent("ps_delete__"+t.Name), view, data, crud("DELETE", "OLD", "")),
	)
	return stmts
}

// uuidSQL makes a random version-4 UUID in SQL, for inserts without an id.
const uuidSQL = `lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' ||
  substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))`
