package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/earshot/earshot/internal/demo"
)

// demoCmd runs `earshot demo`; exit status 1 if anything measured was wrong.
func demoCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "earshot demo takes no arguments")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := demo.Run(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "earshot demo: %v\n", err)
		return 1
	}
	return 0
}
