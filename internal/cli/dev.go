package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/server"
	sqlitesource "github.com/powersync-go/powersync/internal/source/sqlite"
)

// Files of a development instance, inside its folder.
const (
	devDirDefault  = "powersync-dev"
	devServiceFile = "service.yaml"
	devSyncFile    = "sync-config.yaml"
	devSourceFile  = "source.db"
	devStorageDir  = "storage"
	devAudience    = "powersync-dev"
	devUser        = "test-user"
	devTokenLife   = 12 * time.Hour
	// devReadyWait bounds how long dev waits for the first checkpoint
	// before printing its banner.
	devReadyWait = 15 * time.Second
)

func newDevCmd(e *env) *cobra.Command {
	var dir, host string
	var port int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a zero-setup development instance",
		Long: `Run a development instance on embedded defaults: a SQLite source database with
sample lists and todos, embedded bucket storage, a generated signing key and
a development write endpoint, all in one folder (./powersync-dev by default)
that is created on first use and reused afterwards. Edit its service.yaml and
sync-config.yaml freely; they are read at every start.

It prints the sync endpoint, a development token for "test-user", and the
dashboard's address with an admin token to sign in with: there, Connect
generates development tokens for any user (development tokens start on).`,
		Example: `  powersync dev
  powersync dev --port 9090 --dir ./my-dev`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return runDev(ctx, e, dir, host, port, cmd.Flags().Changed("port"))
		},
	}
	cmd.Flags().StringVar(&dir, "dir", devDirDefault, "folder of the development instance")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "address to listen on")
	cmd.Flags().IntVar(&port, "port", config.DefaultPort, "port to listen on (overrides service.yaml; 0 picks a free one)")
	return cmd
}

func runDev(ctx context.Context, e *env, dir, host string, port int, portSet bool) error {
	created, err := ensureDevDir(ctx, dir)
	if err != nil {
		return err
	}
	cfg, err := config.Load(config.LoadOptions{Path: filepath.Join(dir, devServiceFile), Getenv: e.getenv})
	if err != nil {
		return err
	}
	// Development tokens are on in a dev instance, and the dashboard needs
	// an admin token: folders created before either existed get one for
	// this run.
	cfg.ClientAuth.AllowTemporaryTokens = true
	adminToken, adminEphemeral := "", false
	if len(cfg.API.Tokens) > 0 {
		adminToken = cfg.API.Tokens[0]
	} else {
		adminToken, adminEphemeral = "dev-admin-"+devRandomHex(12), true
		cfg.API.Tokens = []string{adminToken}
	}
	log := newLogger(cfg.System.Logging, e.stderr)
	svc, err := openService(ctx, cfg, serviceOptions{
		role: roleUnified, log: log, host: host,
		port: port, setPort: portSet || cfg.Port == config.DefaultPort,
		api: func(o *server.Options, s *service) {
			if src, ok := s.src.(*sqlitesource.Source); ok {
				o.DevCRUD = devCRUD(src)
			}
		},
	})
	if err != nil {
		return err
	}
	defer svc.close()

	if err := svc.devKeys.SetEnabled(ctx, true); err != nil {
		return err
	}
	token, tokenErr := devToken(cfg)
	endpoint := "http://" + svc.ln.Addr().String()
	ran := make(chan error, 1)
	go func() { ran <- svc.run(ctx) }()
	// Print the banner once the first checkpoint is served (the initial
	// snapshot is done, so a change made now arrives as a change), or
	// after a while for a large source database.
	select {
	case <-svc.api.Ready():
	case <-time.After(devReadyWait):
		log.Info("the initial snapshot is still running; streams wait for it")
	case err := <-ran:
		return err
	}
	printDevBanner(e.stdout, dir, endpoint, token, tokenErr, created, devAdmin{token: adminToken, ephemeral: adminEphemeral})
	e.serving(Instance{Endpoint: endpoint, Role: roleUnified, AdminToken: adminToken, Dir: dir, DevToken: token})
	if err := <-ran; err != nil {
		return err
	}
	svc.close()
	log.Info("powersync stopped")
	return nil
}

// devAdmin is the admin token the banner prints for the dashboard.
type devAdmin struct {
	token     string
	ephemeral bool // generated for this run (service.yaml has no api.tokens)
}

func printDevBanner(w io.Writer, dir, endpoint, token string, tokenErr error, created bool, admin devAdmin) {
	state := "reused"
	if created {
		state = "created"
	}
	fmt.Fprintf(w, "PowerSync development instance (%s %s)\n\n", state, dir)
	fmt.Fprintf(w, "  Sync endpoint:      %s\n", endpoint)
	if tokenErr != nil {
		fmt.Fprintf(w, "  Development token:  not available (%v)\n", tokenErr)
	} else {
		fmt.Fprintf(w, "  Development token:  %s\n", token)
		fmt.Fprintf(w, "                      (user %q, valid %s)\n", devUser, devTokenLife)
	}
	fmt.Fprintf(w, "  Dashboard:          %s/dashboard/\n", endpoint)
	fmt.Fprintf(w, "  Admin token:        %s\n", admin.token)
	if admin.ephemeral {
		fmt.Fprintf(w, "                      (for this run only: add it to api.tokens in %s to keep it)\n", filepath.Join(dir, devServiceFile))
	}
	fmt.Fprintf(w, "  Config:             %s, %s\n", filepath.Join(dir, devServiceFile), filepath.Join(dir, devSyncFile))
	fmt.Fprintf(w, "  Source database:    %s (tables lists, todos, announcements)\n", filepath.Join(dir, devSourceFile))
	fmt.Fprintf(w, `
Try next:
  - Keep the token in a shell variable for the commands below:
      export TOKEN=<the development token above>
  - Stream test-user's data:
      curl -N -X POST %[1]s/sync/stream -H "Authorization: Token $TOKEN" -d '{}'
  - Browse test-user's synced data, buckets and checksums in a local web page:
      go run ./cmd/powersync diagnose --endpoint %[1]s --token "$TOKEN"
  - Change the source and watch the stream:
      sqlite3 %[2]s "UPDATE todos SET completed = 1 WHERE owner_id = 'test-user'"
  - A token for another user: open the dashboard, sign in with the admin
    token, Connect, enter the user ID, Generate Token. Or:
      go run ./cmd/powersync generate token -c %[3]s --subject=user-2
  - Point an official SDK at it: fetchCredentials() returns
      { endpoint: '%[1]s', token: '<the token above>' }
    and uploadData() posts the CRUD batch to %[1]s/api/dev/crud (see docs/sdk.md).

Press Ctrl-C to stop.
`, endpoint, filepath.Join(dir, devSourceFile), filepath.Join(dir, devServiceFile))
}

// devToken signs a development token for test-user with the first HS256
// key of client_auth.
func devToken(cfg *config.Config) (string, error) {
	for _, m := range cfg.ClientAuth.JWKS.Keys {
		if m["kty"] != "oct" {
			continue
		}
		k, err := auth.ParseJWK(m)
		if err != nil {
			return "", err
		}
		sk, err := auth.NewHMACKey(k)
		if err != nil {
			return "", err
		}
		var aud []string
		if len(cfg.ClientAuth.Audience) > 0 {
			aud = cfg.ClientAuth.Audience[:1]
		}
		return sk.Sign(auth.TokenClaims{Subject: devUser, Audiences: aud, IssuedAt: time.Now(), Lifetime: devTokenLife}.Map())
	}
	return "", errors.New("client_auth has no HS256 key to sign with; use powersync generate token --private-key")
}

// CreateDevFolder creates the folder of a dev instance, as `powersync dev`
// does on first use, without starting the instance (so a program embedding
// dev can edit its sync config first). A folder with a service.yaml is left
// as it is; created reports whether the folder was created.
func CreateDevFolder(ctx context.Context, dir string) (created bool, err error) {
	return ensureDevDir(ctx, dir)
}

// ensureDevDir creates the instance folder when it has no service.yaml.
// It reports whether it created it.
func ensureDevDir(ctx context.Context, dir string) (bool, error) {
	if _, err := os.Stat(filepath.Join(dir, devServiceFile)); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create %s: %w", dir, err)
	}
	if err := createDevSource(ctx, filepath.Join(dir, devSourceFile)); err != nil {
		return false, err
	}
	if err := devWriteFile(filepath.Join(dir, devSyncFile), []byte(devSyncConfig), 0o644); err != nil {
		return false, err
	}
	key, err := auth.GenerateKey("HS256", "dev-"+devRandomHex(4))
	if err != nil {
		return false, err
	}
	var k string
	for _, f := range key.Public().PublicJWK() {
		if f.Name == "k" {
			k = f.Value
		}
	}
	yaml := fmt.Sprintf(devServiceTemplate, devSourceFile, devStorageDir, config.DefaultPort, devSyncFile, devAudience, key.KID, k,
		"dev-admin-"+devRandomHex(12))
	// Written last: its presence marks a complete folder.
	if err := devWriteFile(filepath.Join(dir, devServiceFile), []byte(yaml), 0o600); err != nil {
		return false, err
	}
	return true, nil
}

const devServiceTemplate = `# service.yaml of a powersync dev instance. Edit freely: it is read at every
# start of "powersync dev" (and works with "powersync start -c" too).
# Reference: docs/configuration.md.

# The source database: an embedded SQLite file with sample tables.
# debug_api lets the admin API's execute-sql run read-only queries on it
# (one SELECT at a time, on a connection that cannot write); remove it to
# turn execute-sql off.
replication:
  connections:
    - type: sqlite
      path: %s
      debug_api: true

# Bucket storage: embedded, in this folder.
storage:
  type: pebble
  path: %s

port: %d

# Which rows each user gets.
sync_config:
  path: %s

# Client tokens: HS256 with the key below (generated for this folder; keep it
# private). "powersync generate token -c <this file> --subject=<user>" signs
# tokens with it.
client_auth:
  audience: [%s]
  jwks:
    keys:
      - kty: oct
        alg: HS256
        kid: %s
        k: %s
  # Development tokens from the dashboard (/dashboard, Connect) or from
  # "powersync generate token --api-url": signed with a key the instance
  # keeps in its storage, accepted while this is on (the dashboard's
  # "Development tokens" setting can switch it at runtime).
  allow_temporary_tokens: true

# Admin API (/api/admin/v1) and dashboard sign-in tokens.
api:
  tokens:
    - %s

system:
  logging:
    level: info
`

const devSyncConfig = `# Sync config of the powersync dev instance: every user gets their own lists
# and todos, and everyone gets the announcements. Reference: docs/sync-rules.md.
bucket_definitions:
  by_user:
    parameters: SELECT request.user_id() AS user_id
    data:
      - SELECT * FROM lists WHERE owner_id = bucket.user_id
      - SELECT * FROM todos WHERE owner_id = bucket.user_id
  global:
    data:
      - SELECT * FROM announcements
`

// createDevSource creates the sample SQLite source database.
func createDevSource(ctx context.Context, path string) error {
	_ = os.Remove(path)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer tx.Rollback()
	stmts := []string{
		// Columns other than id may be NULL: clients upload what they have.
		"CREATE TABLE lists (id TEXT PRIMARY KEY, name TEXT, owner_id TEXT, created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))",
		"CREATE TABLE todos (id TEXT PRIMARY KEY, list_id TEXT, description TEXT, completed INTEGER DEFAULT 0, owner_id TEXT, " +
			"created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))",
		"CREATE TABLE announcements (id TEXT PRIMARY KEY, message TEXT, created_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')))",
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	if _, err := tx.ExecContext(ctx, `INSERT INTO announcements VALUES ('welcome', 'Welcome to your PowerSync development instance', ?)`, now); err != nil {
		return err
	}
	for _, u := range []string{devUser, "user-2", "user-3"} {
		for l := 1; l <= 2; l++ {
			listID := fmt.Sprintf("%s-list-%d", u, l)
			if _, err := tx.ExecContext(ctx, `INSERT INTO lists VALUES (?, ?, ?, ?)`, listID, fmt.Sprintf("List %d of %s", l, u), u, now); err != nil {
				return err
			}
			for t := 1; t <= 3; t++ {
				if _, err := tx.ExecContext(ctx, `INSERT INTO todos VALUES (?, ?, ?, ?, ?, ?)`,
					fmt.Sprintf("%s-todo-%d", listID, t), listID, fmt.Sprintf("Todo %d", t), t%2, u, now); err != nil {
					return err
				}
			}
		}
	}
	return tx.Commit()
}

// devCRUD applies client upload batches to the SQLite source database, in
// one transaction per batch, then wakes the source's change stream.
func devCRUD(src *sqlitesource.Source) server.DevCRUDFunc {
	return func(ctx context.Context, user server.Identity, batch []server.CRUDEntry) error {
		db := src.DB()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		cols := map[string]map[string]bool{}
		for i, e := range batch {
			tc, ok := cols[e.Type]
			if !ok {
				if tc, err = tableColumns(ctx, tx, e.Type); err != nil {
					return fmt.Errorf("batch[%d]: %w", i, err)
				}
				cols[e.Type] = tc
			}
			if err := applyCRUD(ctx, tx, tc, e); err != nil {
				return fmt.Errorf("batch[%d] (%s %s %s): %w", i, e.Op, e.Type, e.ID, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		src.Notify()
		return nil
	}
}

// tableColumns returns the columns of an application table; internal
// tables and unknown tables are refused.
func tableColumns(ctx context.Context, tx *sql.Tx, table string) (map[string]bool, error) {
	if strings.HasPrefix(table, "_powersync") || strings.HasPrefix(table, "sqlite_") {
		return nil, fmt.Errorf("table %q is not writable", table)
	}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		cols[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no table %q in the source database", table)
	}
	if !cols["id"] {
		return nil, fmt.Errorf("table %q has no id column", table)
	}
	return cols, nil
}

func applyCRUD(ctx context.Context, tx *sql.Tx, cols map[string]bool, e server.CRUDEntry) error {
	q := quoteSQLIdent
	var names []string
	var args []any
	for name, v := range e.Data {
		if name == "id" {
			continue
		}
		if !cols[name] {
			return fmt.Errorf("no column %q", name)
		}
		names = append(names, q(name))
		args = append(args, sqliteArg(v))
	}
	switch e.Op {
	case "PUT":
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(names)+1), ", ")
		stmt := fmt.Sprintf("INSERT INTO %s (id%s) VALUES (%s)", q(e.Type), prefixEach(", ", names), ph)
		if len(names) > 0 {
			var sets []string
			for _, n := range names {
				sets = append(sets, n+" = excluded."+n)
			}
			stmt += " ON CONFLICT(id) DO UPDATE SET " + strings.Join(sets, ", ")
		} else {
			stmt += " ON CONFLICT(id) DO NOTHING"
		}
		_, err := tx.ExecContext(ctx, stmt, append([]any{e.ID}, args...)...)
		return err
	case "PATCH":
		if len(names) == 0 {
			return nil
		}
		var sets []string
		for _, n := range names {
			sets = append(sets, n+" = ?")
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE id = ?", q(e.Type), strings.Join(sets, ", ")), append(args, e.ID)...)
		return err
	case "DELETE":
		_, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE id = ?", q(e.Type)), e.ID)
		return err
	}
	return fmt.Errorf("unknown op %q", e.Op)
}

func prefixEach(sep string, xs []string) string {
	var b strings.Builder
	for _, x := range xs {
		b.WriteString(sep)
		b.WriteString(x)
	}
	return b.String()
}

// sqliteArg converts a JSON value of an upload to a SQLite value: integers
// stay integers, booleans become 1/0, objects and arrays JSON text.
func sqliteArg(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return v
}

func quoteSQLIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// devWriteFile writes a file atomically: a temporary file, fsync, rename.
func devWriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func devRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
