// Command ferretdb-local runs FerretDB (the embeddable package) with its SQLite backend,
// for the local development stack. Flags: -listen 127.0.0.1:27017 -data <dir> -log-level error.
//
// Why a launcher and not `go install .../cmd/ferretdb@v1.24.2`: the proxy refuses the module's
// version list that `go install pkg@version` reads, and the command built from the module zip
// panics at start (its build/version/version.txt is generated at release time, not in the zip).
// The embeddable package has telemetry off by construction.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	data := flag.String("data", "data/ferretdb", "directory of the SQLite databases")
	level := flag.String("log-level", "error", "debug, info, warn or error")
	flag.Parse()

	var logLevel slog.Level
	if err := logLevel.UnmarshalText([]byte(*level)); err != nil {
		slog.Error("bad -log-level", "error", err)
		os.Exit(2)
	}

	if err := os.MkdirAll(*data, 0o755); err != nil {
		slog.Error("cannot create data directory", "error", err)
		os.Exit(1)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *data + "/",
	})
	if err != nil {
		slog.Error("cannot configure FerretDB", "error", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.Warn("FerretDB listening", "addr", *listen, "data", *data)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		slog.Error("FerretDB stopped", "error", err)
		os.Exit(1)
	}
}
