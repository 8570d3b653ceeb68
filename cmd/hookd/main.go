// Command hookd is the hookd server (`hookd serve`) and its command-line
// client (every other verb).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookd/hookd/internal/trigger"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && args[0] == "serve" {
		if err := serve(ctx, args[1:], stdout, stderr); err != nil {
			if errors.Is(err, errUsage) {
				return 2
			}
			fmt.Fprintf(stderr, "hookd: %v\n", err)
			return 1
		}
		return 0
	}
	if len(args) == 1 && args[0] == "token" {
		// A new trigger token, for config files that take tokens from the environment.
		fmt.Fprintln(stdout, trigger.NewToken())
		return 0
	}
	return runCLI(ctx, args, stdin, stdout, stderr)
}
