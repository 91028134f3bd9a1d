// Package diagnose is the Sync Diagnostics Client behind `powersync
// diagnose`: a local web page over a Go client (package client) that syncs
// one user's data into a local SQLite file. The page shows connection and
// sync status, the decoded token and its expiry, the buckets with their
// counts, checksums and priorities, a browser of the synced tables, an SQL
// console over the local database, and "clear and re-download".
//
// The page and its script and style sheet are embedded; the page fetches
// nothing but this server's JSON API (/api/...). The API answers only the
// page itself (see guard): a per-run secret on every request, a Host
// allowlist against DNS rebinding and an Origin check; its SQL console runs
// one read-only statement on a locked-down connection (package sqlguard).
package diagnose

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/sqlguard"
)

//go:embed index.html app.js style.css
var files embed.FS

// Options configure a Server.
type Options struct {
	// DBPath is the local SQLite file the user's data is synced into.
	DBPath string
	// Endpoint and Token, when set, connect at once; otherwise the page asks.
	Endpoint, Token string
	// HTTPClient is used for the sync service; nil = http.DefaultClient.
	HTTPClient *http.Client
	// RetryDelay for the client; zero = the client's default.
	RetryDelay time.Duration
	Log        *slog.Logger
	// Secret is the per-run secret every API request must carry in
	// SecretHeader; empty = a random one (read it with Secret).
	Secret string
	// Addr is the host:port the page is served at: requests whose Host is
	// neither it nor a loopback name with its port are refused. Empty =
	// loopback names on any port.
	Addr string
}

// Server serves the diagnostics page and API and owns the client DB.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	// handler is mux behind the guard.
	handler http.Handler

	mu       sync.Mutex // guards the fields below
	db       *client.DB
	endpoint string
	token    string
	views    map[string]string // synced type → column list of its view
	viewsAt  int64             // checkpoint the views were derived at; -1 = never
}

// Open opens the local database and, with Endpoint and Token, connects;
// Close disconnects and closes it.
func Open(ctx context.Context, opts Options) (*Server, error) {
	if opts.DBPath == "" {
		return nil, errors.New("diagnose: no database path")
	}
	if opts.Secret == "" {
		opts.Secret = newSecret()
	}
	s := &Server{opts: opts, log: opts.Log, mux: http.NewServeMux(), views: map[string]string{}, viewsAt: -1}
	s.handler = newGuard(opts.Secret, opts.Addr, s.mux)
	if s.log == nil {
		s.log = slog.Default()
	}
	// An empty schema: every synced row lands in ps_untyped, and the
	// server derives one view per type from the data (a dynamic schema).
	db, err := client.Open(ctx, client.Options{Path: opts.DBPath, Schema: client.Schema{}, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.db = db
	if opts.Token != "" {
		if err := s.connect(ctx, opts.Endpoint, opts.Token); err != nil {
			_ = db.Close(ctx)
			return nil, err
		}
	}
	static, _ := fs.Sub(files, ".")
	s.mux.Handle("GET /", http.FileServerFS(static))
	s.mux.HandleFunc("GET /api/status", s.handleStatus)
	s.mux.HandleFunc("POST /api/connect", s.handleConnect)
	s.mux.HandleFunc("GET /api/table", s.handleTable)
	s.mux.HandleFunc("POST /api/sql", s.handleSQL)
	s.mux.HandleFunc("POST /api/redownload", s.handleRedownload)
	s.mux.HandleFunc("POST /api/subscribe", s.handleSubscribe)
	s.mux.HandleFunc("POST /api/unsubscribe", s.handleSubscribe)
	return s, nil
}

// Handler serves the page and the API, behind the guard.
func (s *Server) Handler() http.Handler { return s.handler }

// Secret is the per-run secret the API requires in SecretHeader.
func (s *Server) Secret() string { return s.opts.Secret }

// PageURL is the address to open: the page at base ("http://127.0.0.1:8081")
// with the secret in the URL fragment, which the browser keeps to itself.
func (s *Server) PageURL(base string) string {
	return strings.TrimRight(base, "/") + "/#secret=" + s.opts.Secret
}

// DB is the client database (for tests and the command).
func (s *Server) DB() *client.DB { return s.db }

// Close disconnects and closes the database; it is safe to call twice.
func (s *Server) Close(ctx context.Context) error { return s.db.Close(ctx) }

type fixedConnector struct{ creds client.Credentials }

func (c fixedConnector) FetchCredentials(context.Context) (client.Credentials, error) {
	return c.creds, nil
}

func (fixedConnector) UploadData(context.Context, *client.DB) error {
	return errors.New("the diagnostics client does not upload local writes")
}

func (s *Server) connect(ctx context.Context, endpoint, token string) error {
	token = strings.TrimSpace(token)
	if _, _, err := auth.DecodeUnverified(token); err != nil {
		return fmt.Errorf("the token is not a JWT (three base64url parts): %w", err)
	}
	if endpoint == "" {
		endpoint = auth.EndpointFromToken(token)
	}
	if endpoint == "" {
		return errors.New("no endpoint: give one, or use a token whose aud is the service URL")
	}
	if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
		return fmt.Errorf("endpoint %q is not an http(s) URL", endpoint)
	}
	endpoint = strings.TrimRight(endpoint, "/")
	s.mu.Lock()
	same := s.endpoint == endpoint && s.token == token
	s.endpoint, s.token = endpoint, token
	s.mu.Unlock()
	if same && s.db.Status().Connected {
		return nil // the page was opened again with the same ?token=
	}
	return s.db.Connect(context.WithoutCancel(ctx), fixedConnector{client.Credentials{Endpoint: endpoint, Token: token}},
		client.ConnectOptions{HTTPClient: s.opts.HTTPClient, RetryDelay: s.opts.RetryDelay})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	var body struct{ Endpoint, Token string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return
	}
	if err := s.connect(r.Context(), body.Endpoint, body.Token); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// status is the JSON of GET /api/status.
type status struct {
	Endpoint      string             `json:"endpoint"`
	Configured    bool               `json:"configured"`
	DBPath        string             `json:"db_path"`
	Sync          syncStatus         `json:"sync"`
	Token         *tokenInfo         `json:"token,omitempty"`
	Buckets       []bucketInfo       `json:"buckets"`
	Subscriptions []subscriptionInfo `json:"subscriptions"`
	Tables        []tableInfo        `json:"tables"`
	Totals        map[string]any     `json:"totals"`
}

type syncStatus struct {
	Connected        bool            `json:"connected"`
	Connecting       bool            `json:"connecting"`
	Downloading      bool            `json:"downloading"`
	HasSynced        bool            `json:"has_synced"`
	LastSyncedAt     *time.Time      `json:"last_synced_at,omitempty"`
	Checkpoint       int64           `json:"checkpoint"`
	DownloadError    string          `json:"download_error,omitempty"`
	Downloaded       int64           `json:"downloaded_ops"`
	ToDownload       int64           `json:"total_ops"`
	Reconnects       int             `json:"reconnects"`
	ChecksumFailures int             `json:"checksum_failures"`
	Streams          []streamSummary `json:"streams"`
}

type streamSummary struct {
	Name      string   `json:"name"`
	IsDefault bool     `json:"is_default"`
	Errors    []string `json:"errors"`
}

type tokenInfo struct {
	Header    json.RawMessage `json:"header"`
	Claims    json.RawMessage `json:"claims"`
	Subject   string          `json:"subject"`
	ExpiresAt *time.Time      `json:"expires_at,omitempty"`
	ExpiresIn float64         `json:"expires_in_seconds"`
}

type bucketInfo struct {
	Name          string `json:"name"`
	Priority      int    `json:"priority"`
	Ops           int64  `json:"ops"`
	ExpectedCount int64  `json:"expected_count"`
	Checksum      int32  `json:"checksum"`
	Expected      int32  `json:"expected_checksum"`
	LastOp        int64  `json:"last_op"`
	Bytes         int64  `json:"downloaded_bytes"`
	Downloaded    int64  `json:"downloaded_ops"`
	ToDownload    int64  `json:"total_ops"`
}

type subscriptionInfo struct {
	Stream     string         `json:"stream"`
	Parameters map[string]any `json:"parameters"`
	Priority   *int           `json:"priority,omitempty"`
}

type tableInfo struct {
	Name    string   `json:"name"`
	Rows    int64    `json:"rows"`
	Columns []string `json:"columns"`
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.snapshot(r.Context())
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) snapshot(ctx context.Context) (*status, error) {
	s.mu.Lock()
	endpoint, token := s.endpoint, s.token
	s.mu.Unlock()
	cs := s.db.Status()
	st := &status{Endpoint: endpoint, Configured: token != "", DBPath: s.db.Path(), Buckets: []bucketInfo{}, Tables: []tableInfo{}}
	st.Sync = syncStatus{Connected: cs.Connected, Connecting: cs.Connecting, Downloading: cs.Downloading, HasSynced: cs.HasSynced,
		Checkpoint: cs.Checkpoint, Reconnects: cs.Reconnects, ChecksumFailures: cs.ChecksumFailures, Streams: []streamSummary{}}
	if !cs.LastSyncedAt.IsZero() {
		t := cs.LastSyncedAt
		st.Sync.LastSyncedAt = &t
	}
	if cs.DownloadError != nil {
		st.Sync.DownloadError = cs.DownloadError.Error()
	}
	st.Sync.Downloaded, st.Sync.ToDownload = cs.Totals(-1)
	for _, sd := range cs.Streams {
		ss := streamSummary{Name: sd.Name, IsDefault: sd.IsDefault, Errors: []string{}}
		for _, e := range sd.Errors {
			ss.Errors = append(ss.Errors, e.Message)
		}
		st.Sync.Streams = append(st.Sync.Streams, ss)
	}
	if token != "" {
		st.Token = decodeToken(token)
	}
	subs, err := s.db.Subscriptions(ctx)
	if err != nil {
		return nil, err
	}
	st.Subscriptions = []subscriptionInfo{}
	for _, sub := range subs {
		st.Subscriptions = append(st.Subscriptions, subscriptionInfo{Stream: sub.Stream, Parameters: sub.Parameters, Priority: sub.Priority})
	}
	progress := map[string]client.BucketProgress{}
	for _, p := range cs.Progress {
		progress[p.Bucket] = p
	}
	bs, err := s.db.Buckets(ctx)
	if err != nil {
		return nil, err
	}
	var ops, bytes int64
	for _, b := range bs {
		bi := bucketInfo{Name: b.Name, Priority: b.Priority, Ops: b.Ops, ExpectedCount: b.ExpectedCount, Checksum: b.Checksum,
			Expected: b.Expected, LastOp: b.LastOp, Bytes: b.DownloadedBytes}
		if p, ok := progress[b.Name]; ok {
			bi.Downloaded, bi.ToDownload = p.Downloaded, p.Total
		}
		ops += b.Ops
		bytes += b.DownloadedBytes
		st.Buckets = append(st.Buckets, bi)
	}
	s.mu.Lock()
	stale := s.viewsAt != cs.Checkpoint
	s.mu.Unlock()
	if stale {
		if err := s.refreshViews(ctx); err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.viewsAt = cs.Checkpoint
		s.mu.Unlock()
	}
	tables, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	st.Tables = tables
	var rows int64
	for _, t := range tables {
		rows += t.Rows
	}
	st.Totals = map[string]any{"buckets": len(bs), "rows": rows, "stored_ops": ops, "downloaded_bytes": bytes}
	return st, nil
}

func decodeToken(tok string) *tokenInfo {
	h, p, err := auth.DecodeUnverified(tok)
	if err != nil {
		return nil
	}
	ti := &tokenInfo{Header: h, Claims: p}
	var c struct {
		Sub    any      `json:"sub"`
		UserID any      `json:"user_id"`
		Exp    *float64 `json:"exp"`
	}
	_ = json.Unmarshal(p, &c)
	switch {
	case c.Sub != nil:
		ti.Subject = fmt.Sprint(c.Sub)
	case c.UserID != nil:
		ti.Subject = fmt.Sprint(c.UserID)
	}
	if c.Exp != nil {
		t := time.Unix(int64(*c.Exp), 0).UTC()
		ti.ExpiresAt = &t
		ti.ExpiresIn = time.Until(t).Seconds()
	}
	return ti
}

// refreshViews keeps one view per synced type over ps_untyped, with a column
// per key seen in the data (the dynamic schema).
func (s *Server) refreshViews(ctx context.Context) error {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT u.type, group_concat(DISTINCT j.key) FROM ps_untyped u, json_each(u.data) j
GROUP BY u.type ORDER BY u.type`)
	if err != nil {
		return err
	}
	want := map[string]string{}
	for rows.Next() {
		var typ, keys string
		if err := rows.Scan(&typ, &keys); err != nil {
			rows.Close()
			return err
		}
		ks := strings.Split(keys, ",")
		sort.Strings(ks)
		want[typ] = strings.Join(ks, ",")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for typ, cols := range want {
		if s.views[typ] == cols || !plainName(typ) {
			continue
		}
		sel := []string{"id"}
		for _, c := range strings.Split(cols, ",") {
			if c == "id" || !plainName(c) {
				continue
			}
			sel = append(sel, fmt.Sprintf(`json_extract(data, '$.%s') AS "%s"`, c, c))
		}
		err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DROP VIEW IF EXISTS "%s"`, typ)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE VIEW "%s" AS SELECT %s FROM ps_untyped WHERE type = '%s'`,
				typ, strings.Join(sel, ", "), typ))
			return err
		})
		if err != nil {
			return fmt.Errorf("view for %s: %w", typ, err)
		}
		s.views[typ] = cols
	}
	for typ := range s.views {
		if _, ok := want[typ]; !ok {
			delete(s.views, typ)
		}
	}
	return nil
}

// plainName accepts names safe to splice into SQL as identifiers and JSON
// paths; other synced types are reachable through ps_untyped.
func plainName(s string) bool {
	if s == "" || len(s) > 64 || strings.HasPrefix(strings.ToLower(s), "ps_") || strings.HasPrefix(strings.ToLower(s), "sqlite_") {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (s *Server) tables(ctx context.Context) ([]tableInfo, error) {
	rows, err := s.db.SQL().QueryContext(ctx, `SELECT type, count(*) FROM ps_untyped GROUP BY type ORDER BY type`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []tableInfo{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for rows.Next() {
		var t tableInfo
		if err := rows.Scan(&t.Name, &t.Rows); err != nil {
			return nil, err
		}
		t.Columns = []string{"id"}
		if cols := s.views[t.Name]; cols != "" {
			for _, c := range strings.Split(cols, ",") {
				if c != "id" && plainName(c) {
					t.Columns = append(t.Columns, c)
				}
			}
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// queryResult is the JSON of a table page or an SQL console answer.
type queryResult struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
	Elapsed float64  `json:"elapsed_ms"`
	Limited bool     `json:"limited,omitempty"`
}

const maxResultRows = 10000

func (s *Server) handleTable(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if !plainName(name) {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("no synced table %q", name))
		return
	}
	res, err := s.query(r.Context(), fmt.Sprintf(`SELECT * FROM "%s" ORDER BY id LIMIT 500`, name))
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleSQL(w http.ResponseWriter, r *http.Request) {
	var body struct {
		SQL string `json:"sql"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || strings.TrimSpace(body.SQL) == "" {
		writeErr(w, http.StatusBadRequest, errors.New(`send {"sql": "SELECT ..."}`))
		return
	}
	res, err := s.consoleQuery(r.Context(), body.SQL)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// consoleQuery runs a query of the SQL console: one read-only statement,
// on a read-only connection of its own whose authorizer refuses ATTACH,
// PRAGMA, VACUUM INTO, writes and schema changes (sqlguard.QuerySQLite),
// so even a request that got past the guard cannot create or change files.
func (s *Server) consoleQuery(ctx context.Context, q string) (*queryResult, error) {
	start := time.Now()
	r, err := sqlguard.QuerySQLite(ctx, s.db.Path(), q, nil)
	if err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), "execute-sql", "the SQL console"))
	}
	res := &queryResult{Columns: r.Columns, Rows: r.Rows, Limited: len(r.Rows) >= sqlguard.MaxRows}
	if len(res.Rows) > maxResultRows {
		res.Rows, res.Limited = res.Rows[:maxResultRows], true
	}
	for _, row := range res.Rows {
		for i, v := range row {
			if b, ok := v.([]byte); ok {
				row[i] = fmt.Sprintf("<blob %d bytes>", len(b))
			}
		}
	}
	res.Elapsed = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}

func (s *Server) query(ctx context.Context, q string) (*queryResult, error) {
	start := time.Now()
	rows, err := s.db.SQL().QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &queryResult{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		if len(res.Rows) == maxResultRows {
			res.Limited = true
			break
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = fmt.Sprintf("<blob %d bytes>", len(b))
			}
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	res.Elapsed = float64(time.Since(start).Microseconds()) / 1000
	return res, nil
}

func (s *Server) handleRedownload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	endpoint, token := s.endpoint, s.token
	s.mu.Unlock()
	if err := s.db.ClearSyncedData(r.Context()); err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	if token != "" {
		if err := s.connect(r.Context(), endpoint, token); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// handleSubscribe serves POST /api/subscribe and /api/unsubscribe:
// {"stream": name, "parameters": {...}, "priority": n}. The client
// reconnects with the new subscription set.
func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Stream     string         `json:"stream"`
		Parameters map[string]any `json:"parameters"`
		Priority   *int           `json:"priority"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return
	}
	var err error
	if strings.HasSuffix(r.URL.Path, "/unsubscribe") {
		err = s.db.Unsubscribe(r.Context(), body.Stream, body.Parameters)
	} else {
		err = s.db.Subscribe(r.Context(), body.Stream, body.Parameters, body.Priority)
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
