package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
	"github.com/powersync-go/powersync/protocol"
)

// The admin API (/api/admin/v1/…): what the official CLI's `powersync
// status` and the dashboard read. Every route needs one of api.tokens as
// "Authorization: Bearer <token>" (or "Token <token>"); a client JWT is not
// an admin token. Responses are wrapped in {"data": …} as the reference's.

// AdminConnection describes a source connection for diagnostics.
type AdminConnection struct {
	ID, Tag string
	// Type is "postgresql" or "sqlite".
	Type string
	// URI is shown to admins; it must not contain a password.
	URI string
}

// SchemaColumn is a source column: its type in the source and the SQLite
// type its values sync as ("integer", "real", "text" or "blob").
type SchemaColumn struct {
	Name, SQLiteType, SourceType string
}

// SchemaTable is a source table with its columns in order.
type SchemaTable struct {
	Schema, Name string
	Columns      []SchemaColumn
}

// SQLResult is the result of an execute-sql query.
type SQLResult struct {
	Columns []string
	Rows    [][]any
}

// AdminOptions configure the admin API and the dashboard.
type AdminOptions struct {
	// Tokens are api.tokens. With none, every admin route (and the
	// dashboard's sign-in) answers 401 "Authentication disabled".
	Tokens []string
	// DevKeys is the instance development key and switch; nil disables
	// the development token routes.
	DevKeys *auth.DevKeys
	// Source is the source database, for connection status and tables.
	Source source.Source
	// Connections describe the source connections (the first is used).
	Connections []AdminConnection
	// ParseOptions compile sync configs for validate and diagnostics.
	ParseOptions syncrules.ParseOptions
	// SchemaName is the name shown for the source's default schema, and
	// for tables the source reports without one (source.SchemaName; empty
	// means SQLite's "main").
	SchemaName string
	// ExecuteSQL runs a read-only query on the source; nil disables
	// execute-sql.
	ExecuteSQL func(ctx context.Context, query string, args []any) (*SQLResult, error)
	// DebugAPI is debug_api of the source connection: execute-sql runs
	// queries only when it is true, and otherwise answers, as the
	// reference does, success false with errSQLNotEnabled.
	DebugAPI bool
	// Schema lists the source's tables and columns (the schema route,
	// which the official CLI's `generate schema` reads); nil disables it.
	Schema func(ctx context.Context) ([]SchemaTable, error)
	// PublicURL, when set, is the instance URL put into development
	// tokens; otherwise it is taken from the request: its scheme and Host,
	// or Forwarded / X-Forwarded-Proto / X-Forwarded-Host when the request
	// came from a peer in TrustedProxies.
	PublicURL string
	// TrustedProxies are api.trusted_proxies: the only peers whose
	// forwarded headers are believed. Empty: they are ignored.
	TrustedProxies []netip.Prefix
}

// admin serves the admin API and the dashboard.
type admin struct {
	s    *Server
	opts AdminOptions
}

// EnableAdmin adds the admin API, the dashboard (/dashboard) and, with
// development keys, the ending of development-token streams when the
// switch goes off. Call it once, before serving.
func (s *Server) EnableAdmin(o AdminOptions) {
	a := &admin{s: s, opts: o}
	for path, h := range map[string]http.HandlerFunc{
		"POST /api/admin/v1/diagnostics": a.handleDiagnostics,
		"POST /api/admin/v1/validate":    a.handleValidate,
		"POST /api/admin/v1/execute-sql": a.handleExecuteSQL,
		"POST /api/admin/v1/schema":      a.handleSchema,
		"POST /api/admin/v1/dev-token":   a.handleDevToken,
		"GET /api/admin/v1/settings":     a.handleSettings,
		"POST /api/admin/v1/settings":    a.handleSettings,
	} {
		s.mux.Handle(path, a.authorized(h))
	}
	s.mux.Handle("GET /dashboard", http.RedirectHandler("/dashboard/", http.StatusFound))
	s.mux.Handle("GET /dashboard/", dashboardHandler())
	if o.DevKeys != nil {
		s.opts.Auth = revocableAuth{next: s.opts.Auth, dev: o.DevKeys}
	}
}

var (
	errAdminDisabled = &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthMissingToken,
		Status: http.StatusUnauthorized, Description: "Authentication disabled: add an admin token to api.tokens in the service config"}
	errAdminMissing = &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthMissingToken,
		Status: http.StatusUnauthorized, Description: "Authentication required: send 'Authorization: Bearer <admin token>' with a token from api.tokens"}
	errAdminWrong = &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthGeneric,
		Status: http.StatusUnauthorized, Description: "Authorization failed: not an admin API token (api.tokens)"}
	errDevUnavailable = &protocol.Error{Name: protocol.NameServiceError, Code: protocol.CodeNotFound,
		Status: http.StatusNotFound, Description: "Development tokens are not available on this process"}
)

// authorized checks the admin token before h. Tokens are compared in
// constant time; which token matched is never logged.
func (a *admin) authorized(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(a.opts.Tokens) == 0 {
			writeError(w, errAdminDisabled)
			return
		}
		tok, err := tokenFromRequest(r)
		if err != nil {
			writeError(w, errAdminMissing)
			return
		}
		ok := 0
		for _, t := range a.opts.Tokens {
			ok |= subtle.ConstantTimeCompare([]byte(tok), []byte(t))
		}
		if ok != 1 {
			writeError(w, errAdminWrong)
			return
		}
		h(w, r)
	})
}

// decodeBody reads an optional JSON object body into v.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return badRequest("read the request body: %v", err)
	}
	if len(b) > 1<<20 {
		return badRequest("the request body is larger than 1 MiB")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("the request body is not the expected JSON object: %v", err)
	}
	return nil
}

func badRequest(format string, args ...any) error {
	return &protocol.Error{Name: protocol.NameValidationError, Code: protocol.CodeValidation,
		Status: http.StatusBadRequest, Description: fmt.Sprintf(format, args...)}
}

// ---- diagnostics ----

// replicationError is the reference's ReplicationError.
type replicationError struct {
	Level   string `json:"level"` // "warning" or "fatal"
	Message string `json:"message"`
	TS      string `json:"ts,omitempty"`
}

type connectionStatus struct {
	ID   string `json:"id"`
	Tag  string `json:"tag"`
	Type string `json:"type"`
	// PostgresURI is the reference's (v1) field name, which the official
	// CLI prints; URI is the v2 name.
	PostgresURI string             `json:"postgres_uri"`
	URI         string             `json:"uri"`
	Connected   bool               `json:"connected"`
	Errors      []replicationError `json:"errors"`
}

type tableInfo struct {
	Schema           string             `json:"schema"`
	Name             string             `json:"name"`
	Pattern          string             `json:"pattern,omitempty"`
	ReplicationID    []string           `json:"replication_id"`
	DataQueries      bool               `json:"data_queries"`
	ParameterQueries bool               `json:"parameter_queries"`
	Errors           []replicationError `json:"errors"`
}

type syncConnection struct {
	ID                     string `json:"id"`
	Tag                    string `json:"tag"`
	SlotName               string `json:"slot_name"`
	InitialReplicationDone bool   `json:"initial_replication_done"`
	LastLSN                string `json:"last_lsn,omitempty"`
	LastCheckpointTS       string `json:"last_checkpoint_ts,omitempty"`
	ReplicationLagBytes    *int64 `json:"replication_lag_bytes,omitempty"`
	ReplicationLagChanges  *int64 `json:"replication_lag_changes,omitempty"`
	// ReplicationLagMillis is how long replication took to reach the
	// source's current position (asked for by this request); absent when
	// it did not within the wait.
	ReplicationLagMillis *int64      `json:"replication_lag_ms,omitempty"`
	LastOpID             string      `json:"last_op_id"`
	Tables               []tableInfo `json:"tables"`
}

type syncRulesStatus struct {
	// VersionID and State are extensions (the reference has neither).
	VersionID   int64              `json:"version_id,omitempty"`
	State       string             `json:"state,omitempty"`
	Content     *string            `json:"content,omitempty"`
	Connections []syncConnection   `json:"connections"`
	Errors      []replicationError `json:"errors"`
}

// apiStatus is our extension of the diagnostics: this API process.
type apiStatus struct {
	ConnectedClients  int64  `json:"connected_clients"`
	DevelopmentTokens *bool  `json:"development_tokens,omitempty"`
	StartedAt         string `json:"started_at,omitempty"`
}

type diagnostics struct {
	Connections        []connectionStatus `json:"connections"`
	ActiveSyncRules    *syncRulesStatus   `json:"active_sync_rules,omitempty"`
	DeployingSyncRules *syncRulesStatus   `json:"deploying_sync_rules,omitempty"`
	API                apiStatus          `json:"api"`
}

func (a *admin) handleDiagnostics(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SyncRulesContent bool `json:"sync_rules_content"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	d, err := a.diagnostics(ctx, req.SyncRulesContent)
	if err != nil {
		a.s.log.Error("admin diagnostics", "error", err)
		writeError(w, err)
		return
	}
	writeData(w, d)
}

func (a *admin) diagnostics(ctx context.Context, withContent bool) (*diagnostics, error) {
	d := &diagnostics{Connections: []connectionStatus{}}
	d.API.ConnectedClients = a.s.conns.Load()
	if t := a.s.startedAt.Load(); t != nil {
		d.API.StartedAt = t.UTC().Format(time.RFC3339)
	}
	if a.opts.DevKeys != nil {
		on := a.opts.DevKeys.Enabled()
		d.API.DevelopmentTokens = &on
	}
	var connErr error
	if a.opts.Source != nil {
		connErr = a.opts.Source.Check(ctx)
	}
	for _, c := range a.opts.Connections {
		cs := connectionStatus{ID: c.ID, Tag: c.Tag, Type: c.Type, PostgresURI: c.URI, URI: c.URI,
			Connected: connErr == nil, Errors: []replicationError{}}
		if connErr != nil {
			cs.Errors = append(cs.Errors, replicationError{Level: "fatal", Message: connErr.Error()})
		}
		d.Connections = append(d.Connections, cs)
	}

	versions, err := a.s.opts.Storage.Versions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read sync config versions: %w", err)
	}
	var active, deploying *storage.Version
	for i := range versions {
		v := &versions[i]
		switch v.State {
		case storage.StateActive, storage.StateErrored:
			if active == nil || v.ID > active.ID {
				active = v
			}
		case storage.StateProcessing:
			deploying = v
		}
	}
	var head storage.Position
	var headOK bool
	if active != nil || deploying != nil {
		if a.s.opts.Head != nil && connErr == nil {
			if p, err := a.s.opts.Head(ctx); err == nil {
				head, headOK = p, true
				a.s.metrics.sawHead(p)
			}
		}
	}
	var lagMillis *int64
	if active != nil && headOK {
		// Wait a moment for replication to reach the head: the time it
		// takes is the replication lag, and the version's checkpoint is
		// then current.
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, lagWait)
		for {
			cp, changed, err := a.s.opts.Storage.Watch(wctx)
			if err != nil {
				break
			}
			if cp.VersionID == active.ID && cp.Position >= head {
				ms := time.Since(start).Milliseconds()
				lagMillis = &ms
				active.Checkpoint = cp
				break
			}
			select {
			case <-changed:
				continue
			case <-wctx.Done():
			}
			break
		}
		cancel()
	}
	if active != nil {
		d.ActiveSyncRules = a.versionStatus(ctx, *active, withContent, head, headOK)
		if c := d.ActiveSyncRules.Connections; len(c) > 0 {
			c[0].ReplicationLagMillis = lagMillis
		}
	}
	if deploying != nil {
		d.DeployingSyncRules = a.versionStatus(ctx, *deploying, withContent, head, headOK)
	}
	return d, nil
}

func (a *admin) versionStatus(ctx context.Context, v storage.Version, withContent bool, head storage.Position, headOK bool) *syncRulesStatus {
	st := &syncRulesStatus{VersionID: v.ID, State: string(v.State), Connections: []syncConnection{}, Errors: []replicationError{}}
	if withContent {
		c := v.Content
		st.Content = &c
	}
	if v.LastError != "" {
		st.Errors = append(st.Errors, replicationError{Level: "fatal", Message: v.LastError})
	}
	cfg, diags := syncrules.Parse([]byte(v.Content), a.opts.ParseOptions)
	st.Errors = append(st.Errors, diagnosticErrors(diags)...)

	conn := a.firstConnection()
	sc := syncConnection{ID: conn.ID, Tag: conn.Tag, SlotName: v.SlotName, InitialReplicationDone: v.SnapshotDone,
		LastOpID: strconv.FormatInt(v.Checkpoint.OpID, 10), Tables: []tableInfo{}}
	if !v.Checkpoint.Time.IsZero() {
		sc.LastCheckpointTS = v.Checkpoint.Time.UTC().Format(time.RFC3339Nano)
	}
	if v.Checkpoint.Position > 0 {
		sc.LastLSN = a.formatPosition(v.Checkpoint.Position)
	}
	if headOK && v.SnapshotDone {
		lag := max(int64(head)-int64(v.Checkpoint.Position), 0)
		if conn.Type == "postgresql" {
			sc.ReplicationLagBytes = &lag
		} else {
			sc.ReplicationLagChanges = &lag
		}
	}
	if cfg != nil && a.opts.Source != nil {
		sc.Tables = a.tables(ctx, cfg, st)
	}
	st.Connections = append(st.Connections, sc)
	return st
}

func (a *admin) firstConnection() AdminConnection {
	if len(a.opts.Connections) > 0 {
		return a.opts.Connections[0]
	}
	return AdminConnection{ID: "default", Tag: "default"}
}

// formatPosition shows a Postgres position as an LSN, others as numbers.
func (a *admin) formatPosition(p storage.Position) string {
	if a.firstConnection().Type == "postgresql" {
		return pglogrepl.LSN(p).String()
	}
	return strconv.FormatUint(uint64(p), 10)
}

// tables resolves the config's table patterns on the source; a pattern
// that matches nothing is a warning (of the table and of the config).
func (a *admin) tables(ctx context.Context, cfg *syncrules.Config, st *syncRulesStatus) []tableInfo {
	out := []tableInfo{}
	for _, p := range cfg.SourceTables() {
		name := p.Name
		if p.Schema != "" {
			name = p.Schema + "." + p.Name
		}
		ts, err := a.opts.Source.Tables(ctx, []sqlvalue.TablePattern{p})
		if err != nil {
			e := replicationError{Level: "warning", Message: fmt.Sprintf("Table %s: %v", name, err)}
			out = append(out, tableInfo{Schema: p.Schema, Name: p.Name, ReplicationID: []string{}, Errors: []replicationError{e}})
			st.Errors = append(st.Errors, e)
			continue
		}
		if len(ts) == 0 {
			e := replicationError{Level: "warning", Message: fmt.Sprintf("Table %s not found in the source database", name)}
			out = append(out, tableInfo{Schema: p.Schema, Name: p.Name, ReplicationID: []string{}, Errors: []replicationError{e}})
			st.Errors = append(st.Errors, e)
			continue
		}
		for _, t := range ts {
			ti := tableInfo{Schema: t.Ref.Schema, Name: t.Ref.Name, ReplicationID: t.KeyColumns,
				DataQueries: true, ParameterQueries: cfg.IsParameterTable(t.Ref), Errors: []replicationError{}}
			if strings.HasSuffix(p.Name, "%") {
				ti.Pattern = p.Name
			}
			if ti.ReplicationID == nil {
				ti.ReplicationID = []string{}
			}
			out = append(out, ti)
		}
	}
	return out
}

func diagnosticErrors(diags syncrules.Diagnostics) []replicationError {
	var out []replicationError
	for _, d := range diags {
		level := "warning"
		if d.Severity == syncrules.SeverityFatal {
			level = "fatal"
		}
		msg := d.Message
		if d.Line > 0 {
			msg = fmt.Sprintf("%d:%d: %s", d.Line, d.Column, d.Message)
		}
		out = append(out, replicationError{Level: level, Message: msg})
	}
	return out
}

// lagWait bounds how long diagnostics wait for replication to reach the
// source's current position.
const lagWait = 2 * time.Second

// ---- validate ----

func (a *admin) handleValidate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SyncRules *string `json:"sync_rules"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.SyncRules == nil {
		writeError(w, badRequest("sync_rules is required: the sync config YAML to validate"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	content := *req.SyncRules
	st := &syncRulesStatus{Content: &content, Connections: []syncConnection{}, Errors: []replicationError{}}
	cfg, diags := syncrules.Parse([]byte(content), a.opts.ParseOptions)
	st.Errors = append(st.Errors, diagnosticErrors(diags)...)
	if cfg != nil && a.opts.Source != nil {
		conn := a.firstConnection()
		sc := syncConnection{ID: conn.ID, Tag: conn.Tag, Tables: a.tables(ctx, cfg, st)}
		st.Connections = append(st.Connections, sc)
	}
	writeData(w, st)
}

// ---- schema ----

// handleSchema answers the reference's GetSchemaResponse: connections →
// schemas → tables → columns.
func (a *admin) handleSchema(w http.ResponseWriter, r *http.Request) {
	if a.opts.Schema == nil {
		writeError(w, &protocol.Error{Name: protocol.NameServiceError, Code: protocol.CodeNotFound,
			Status: http.StatusNotFound, Description: "The source schema is not available on this process"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	tables, err := a.opts.Schema(ctx)
	if err != nil {
		writeError(w, &protocol.Error{Name: protocol.NameServiceError, Code: protocol.CodeValidation,
			Status: http.StatusInternalServerError, Description: "Read the source schema: " + err.Error()})
		return
	}
	type column struct {
		Name         string `json:"name"`
		SQLiteType   string `json:"sqlite_type"`
		InternalType string `json:"internal_type"`
		Type         string `json:"type"`
		PgType       string `json:"pg_type"`
	}
	type table struct {
		Name    string   `json:"name"`
		Columns []column `json:"columns"`
	}
	type namespace struct {
		Name   string  `json:"name"`
		Tables []table `json:"tables"`
	}
	conn := a.firstConnection()
	// Tables without a schema are in the connection's own database.
	ownSchema := a.opts.SchemaName
	if ownSchema == "" {
		ownSchema = source.SQLiteSchemaName
	}
	defaultSchema := a.opts.ParseOptions.DefaultSchema
	if defaultSchema == "" {
		defaultSchema = ownSchema
	}
	var schemas []namespace
	for _, t := range tables {
		ns := t.Schema
		if ns == "" {
			ns = ownSchema
		}
		if len(schemas) == 0 || schemas[len(schemas)-1].Name != ns {
			schemas = append(schemas, namespace{Name: ns, Tables: []table{}})
		}
		tb := table{Name: t.Name, Columns: []column{}}
		for _, c := range t.Columns {
			tb.Columns = append(tb.Columns, column{Name: c.Name, SQLiteType: c.SQLiteType, InternalType: c.SourceType,
				Type: c.SourceType, PgType: c.SourceType})
		}
		ns0 := &schemas[len(schemas)-1]
		ns0.Tables = append(ns0.Tables, tb)
	}
	if schemas == nil {
		schemas = []namespace{}
	}
	writeData(w, struct {
		Connections []struct {
			ID      string      `json:"id"`
			Tag     string      `json:"tag"`
			Schemas []namespace `json:"schemas"`
		} `json:"connections"`
		DefaultConnectionTag string `json:"defaultConnectionTag"`
		DefaultSchema        string `json:"defaultSchema"`
	}{
		Connections: []struct {
			ID      string      `json:"id"`
			Tag     string      `json:"tag"`
			Schemas []namespace `json:"schemas"`
		}{{ID: conn.ID, Tag: conn.Tag, Schemas: schemas}},
		DefaultConnectionTag: conn.Tag,
		DefaultSchema:        defaultSchema,
	})
}

// ---- execute-sql ----

// errSQLNotEnabled starts as the reference's answer does, so tools that
// look for it recognise it, and says how to turn execute-sql on.
const errSQLNotEnabled = "SQL querying is not enabled: set debug_api: true on the source connection " +
	"(replication.connections in service.yaml) to allow read-only queries through execute-sql"

func (a *admin) handleExecuteSQL(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SQL struct {
			Query string `json:"query"`
			Args  []any  `json:"args"`
		} `json:"sql"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	type response struct {
		Success bool `json:"success"`
		Results struct {
			Columns []string `json:"columns"`
			Rows    [][]any  `json:"rows"`
		} `json:"results"`
		Error string `json:"error,omitempty"`
	}
	var out response
	out.Results.Columns, out.Results.Rows = []string{}, [][]any{}
	switch {
	case !a.opts.DebugAPI:
		out.Error = errSQLNotEnabled
	case a.opts.ExecuteSQL == nil:
		out.Error = "execute-sql is not available for this source"
	case strings.TrimSpace(req.SQL.Query) == "":
		writeError(w, badRequest("sql.query is required"))
		return
	default:
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		res, err := a.opts.ExecuteSQL(ctx, req.SQL.Query, req.SQL.Args)
		if err != nil {
			out.Error = err.Error()
			break
		}
		out.Success = true
		out.Results.Columns = res.Columns
		for _, row := range res.Rows {
			out.Results.Rows = append(out.Results.Rows, jsonRow(row))
		}
	}
	writeData(w, out)
}

// jsonRow turns source values into JSON values (bytes as hex text, times
// as RFC 3339).
func jsonRow(row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		switch x := v.(type) {
		case []byte:
			out[i] = fmt.Sprintf("\\x%x", x)
		case [16]byte: // a Postgres uuid
			out[i] = fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
		case time.Time:
			out[i] = x.UTC().Format(time.RFC3339Nano)
		case nil, bool, string, int64, int32, int, float64, float32:
			out[i] = x
		case fmt.Stringer:
			out[i] = x.String()
		default:
			if b, err := json.Marshal(x); err == nil {
				out[i] = json.RawMessage(b)
			} else {
				out[i] = fmt.Sprint(x)
			}
		}
	}
	return out
}

// ---- development tokens ----

type settingsBody struct {
	DevelopmentTokens *bool  `json:"development_tokens"`
	DevKeyID          string `json:"development_key_id,omitempty"`
	// DevKey is the public JWK of the instance development key, for
	// `powersync verify token --api-url` (a public key: it verifies
	// development tokens, it cannot mint them).
	DevKey map[string]any `json:"development_key,omitempty"`
}

// handleSettings reads (GET) or changes (POST) the instance settings: the
// "Development tokens" switch.
func (a *admin) handleSettings(w http.ResponseWriter, r *http.Request) {
	if a.opts.DevKeys == nil {
		writeError(w, errDevUnavailable)
		return
	}
	if r.Method == http.MethodPost {
		var req settingsBody
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if req.DevelopmentTokens == nil {
			writeError(w, badRequest("development_tokens (true or false) is required"))
			return
		}
		if err := a.opts.DevKeys.SetEnabled(r.Context(), *req.DevelopmentTokens); err != nil {
			a.s.log.Error("save development tokens setting", "error", err)
			writeError(w, err)
			return
		}
		a.s.log.Info("development tokens setting saved", "enabled", *req.DevelopmentTokens)
	}
	on := a.opts.DevKeys.Enabled()
	body := settingsBody{DevelopmentTokens: &on, DevKeyID: a.opts.DevKeys.KeyID()}
	if k := a.opts.DevKeys.PublicKey(); k != nil {
		body.DevKey = k.JWKMap()
	}
	writeData(w, body)
}

// handleDevToken mints a development token for a user id.
func (a *admin) handleDevToken(w http.ResponseWriter, r *http.Request) {
	if a.opts.DevKeys == nil {
		writeError(w, errDevUnavailable)
		return
	}
	var req struct {
		UserID           string `json:"user_id"`
		Subject          string `json:"subject"`
		ExpiresInSeconds int64  `json:"expires_in_seconds"`
	}
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	sub := req.UserID
	if sub == "" {
		sub = req.Subject
	}
	if strings.TrimSpace(sub) == "" {
		writeError(w, badRequest("user_id is required: the user the token is for (its sub claim)"))
		return
	}
	if max := int64(auth.DevTokenMaxLifetime / time.Second); req.ExpiresInSeconds < 0 || req.ExpiresInSeconds > max {
		writeError(w, badRequest("expires_in_seconds must be between 1 and %d (24 h), got %d", max, req.ExpiresInSeconds))
		return
	}
	endpoint := a.instanceURL(r)
	tok, err := a.opts.DevKeys.Mint(r.Context(), auth.DevTokenRequest{Subject: sub, InstanceURL: endpoint,
		Lifetime: time.Duration(req.ExpiresInSeconds) * time.Second})
	switch {
	case errors.Is(err, auth.ErrDevTokensDisabled):
		writeError(w, &protocol.Error{Name: protocol.NameValidationError, Code: protocol.CodeAuthGeneric,
			Status: http.StatusForbidden, Description: "Development tokens are disabled for this instance: turn on \"Development tokens\" and save first"})
		return
	case errors.Is(err, auth.ErrDevTokenRequest):
		writeError(w, badRequest("user_id: %s", strings.TrimPrefix(err.Error(), auth.ErrDevTokenRequest.Error()+": ")))
		return
	case err != nil:
		a.s.log.Error("mint development token", "error", err)
		writeError(w, err)
		return
	}
	a.s.log.Info("development token minted", "user_id", sub, "kid", tok.KeyID, "expires_at", tok.ExpiresAt)
	writeData(w, struct {
		*auth.DevToken
		Endpoint string `json:"endpoint"`
	}{tok, endpoint})
}

// instanceURL is the URL clients reach this instance at.
func (a *admin) instanceURL(r *http.Request) string {
	if a.opts.PublicURL != "" {
		return strings.TrimSuffix(a.opts.PublicURL, "/")
	}
	return requestURL(r, a.opts.TrustedProxies).String()
}

// revocableAuth marks identities of development tokens with the channel
// that closes when development tokens are turned off: their sync streams
// end then, and the client's reconnect is refused with PSYNC_S2101
// "Development tokens are disabled for this instance".
type revocableAuth struct {
	next Authenticator
	dev  *auth.DevKeys
}

func (a revocableAuth) Authenticate(ctx context.Context, token string) (Identity, error) {
	id, err := a.next.Authenticate(ctx, token)
	if err != nil {
		return id, err
	}
	// The token verified, so its header is well formed; only the kid is
	// needed to tell a development token.
	h, _, herr := auth.DecodeUnverified(token)
	var hdr struct {
		Kid string `json:"kid"`
	}
	if herr == nil && json.Unmarshal(h, &hdr) == nil && hdr.Kid != "" && a.dev.Owns(hdr.Kid) {
		id.Revoked = a.dev.Revoked()
	}
	return id, nil
}
