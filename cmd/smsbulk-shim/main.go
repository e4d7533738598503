// Command smsbulk-shim serves the SMS-Activate handler_api.php protocol in
// front of an SMSBulk backend. Run it with -h for its variables, or with
// -sandbox to try it against the built-in sandbox backend.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "smsbulk-shim:", err)
		stop()
		os.Exit(1)
	}
}
