package source

// The default-schema rule, in one place. A sync config may name a table
// without a schema (FROM todos); which schema that means depends on the
// source database. The sync-rules parser (start, validate, the admin API)
// is given DefaultSchema(type), and the adapters resolve "" the same way.
// Stored table references are built from these names, so changing an
// answer here changes stored bytes.
const (
	// PostgresDefaultSchema is Postgres's default search path, where an
	// unqualified table lives.
	PostgresDefaultSchema = "public"
	// SQLiteSchemaName is SQLite's own name for the schema of a database
	// file. SQLite tables carry no schema: the SQLite source takes "",
	// "main" and "public" (sync configs written for Postgres) as names of
	// the one database.
	SQLiteSchemaName = "main"
)

// DefaultSchema returns the schema the sync config's unqualified tables are
// resolved in for a source of the given type (as service.yaml names it:
// "postgresql", "sqlite", "mysql"):
//
//   - postgresql: "public".
//   - sqlite, mysql: "" — the connection's own database (the SQLite file;
//     the MySQL database of the connection URI), resolved by the source, so
//     the same sync config works whatever the database is called.
//
// An unknown or empty type gets Postgres's answer: a sync config checked
// on its own (validate --sync-rules) is read as the reference reads it.
func DefaultSchema(sourceType string) string {
	switch sourceType {
	case "sqlite", "mysql":
		return ""
	}
	return PostgresDefaultSchema
}

// SchemaName is the name tools show for the default schema of a source (the
// admin API's schema route, which the official CLI reads): public for
// Postgres, main for SQLite, the database for MySQL.
func SchemaName(sourceType, database string) string {
	switch sourceType {
	case "sqlite":
		return SQLiteSchemaName
	case "mysql":
		return database
	}
	return PostgresDefaultSchema
}
