// Command flowwatch monitors deployed LLM and RAG applications.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	// Monitors' schedules name IANA time zones; the binary carries the
	// database so that they work on machines without one installed.
	_ "time/tzdata"

	"github.com/flowwatch/flowwatch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
