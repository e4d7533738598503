// Command smsbulk-shim serves the SMS-Activate handler_api.php protocol in
// front of an SMSBulk backend. Run it with -h for its variables and
// operator commands, or with -sandbox to try it against the built-in
// sandbox backend.
//
// The command is wiring only: run reads the flags and the configuration,
// builds the parts (store.go, backend.go, server.go, background.go,
// health.go, frontend.go) and serves until a signal, then shuts down;
// operator.go holds the operator commands.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "smsbulk-shim:", err)
		os.Exit(1)
	}
}
