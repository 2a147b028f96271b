package main

import (
	"fmt"
	"io"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/app"
)

func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: earshot check-config FILE")
		return 2
	}
	if _, err := config.LoadWith(args[0], app.ConfigOptions()); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[0])
	return 0
}
