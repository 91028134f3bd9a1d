package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/web/diagnose"
)

const diagnoseListenDefault = "127.0.0.1:8081"

func newDiagnoseCmd(e *env) *cobra.Command {
	var endpoint, token, dbPath, listen string
	cmd := &cobra.Command{
		Use:   "diagnose [--endpoint URL] [--token T] [--db FILE] [--listen ADDR]",
		Short: "Sync a user's data locally and inspect it in a web page",
		Long: `diagnose is the Sync Diagnostics Client: it syncs one user's data into a local
SQLite file with the Go client SDK and serves a web page on --listen showing
the connection and sync status, the decoded token and its expiry, the buckets
with their op counts, checksums and priorities, a browser of the synced
tables, an SQL console over the local database, and "Clear & re-download".

Without --token the page asks for one; opening the page with ?token=<JWT>
(and optionally &endpoint=<URL>) fills it in. The endpoint defaults to the
token's aud when that is an http(s) URL.

The page's address carries a secret made for this run (#secret=...): its API
answers only requests that carry it (header X-Diagnose-Secret), whose Host
is the listen address or a loopback name, and that do not come from another
site. The SQL console runs only read-only statements.`,
		Example: `  powersync diagnose --endpoint http://127.0.0.1:8080 --token "$TOKEN"
  powersync diagnose --db ./user-1.db --listen 127.0.0.1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return runDiagnose(ctx, e, endpoint, token, dbPath, listen)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&endpoint, "endpoint", "e", "", "service URL; default: the token's aud when it is an http(s) URL")
	fs.StringVarP(&token, "token", "t", "", "client token (JWT) of the user to inspect")
	fs.StringVar(&dbPath, "db", "powersync-diagnose.db", "local SQLite file the data is synced into")
	fs.StringVar(&listen, "listen", diagnoseListenDefault, "address of the diagnostics page (port 0 picks a free one)")
	return cmd
}

func runDiagnose(ctx context.Context, e *env, endpoint, token, dbPath, listen string) error {
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if token != "" && endpoint == "" && auth.EndpointFromToken(token) == "" {
		return errors.New("specify --endpoint, or use a token whose aud is the service URL")
	}
	// Listen first: the page answers only requests whose Host is this
	// address (or a loopback name with its port).
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	defer ln.Close()
	srv, err := diagnose.Open(ctx, diagnose.Options{DBPath: dbPath, Endpoint: endpoint, Token: token, Log: log,
		Addr: ln.Addr().String()})
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(e.stdout, "Diagnostics page: %s\n", srv.PageURL(base))
	fmt.Fprintf(e.stdout, "Local database:   %s\n", dbPath)
	fmt.Fprintln(e.stdout, "Open the page at that address: the part after #secret= is this run's secret, and the page's API refuses requests without it.")
	if token == "" {
		fmt.Fprintf(e.stdout, "To connect as a user, open %s/?token=<JWT>#secret=%s\n", base, srv.Secret())
	}
	fmt.Fprintln(e.stdout, "Press Ctrl-C to stop.")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// The secret is the credential of the page's API, as an admin token is
	// of a service's.
	e.serving(Instance{Endpoint: base, Role: roleDiagnose, AdminToken: srv.Secret()})
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}
