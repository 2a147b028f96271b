// Command earshot is the SIP B2BUA and media server for contact centres.
//
//	earshot serve [-config FILE]     run (embedded demo config without -config)
//	earshot check-config FILE        validate a config file
//	earshot config                   print the embedded default config
//	earshot backup FILE              copy the running earshot's database
//	earshot version                  print the version
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/earshot/earshot/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "config":
		if len(args) > 1 {
			fmt.Fprintln(stderr, "usage: earshot config   (prints the embedded default config)")
			return 2
		}
		// The file `serve` runs on without -config: a starting point to
		// copy, edit and pass back with -config.
		_, _ = stdout.Write(config.DefaultYAML())
		return 0
	case "demo":
		return demoCmd(args[1:], stdout, stderr)
	case "backup":
		return backup(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "earshot %s\n", version)
		return 0
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "earshot: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  earshot serve [-config FILE]   run earshot (embedded demo config if no -config)
  earshot check-config FILE      validate a config file; problems as file:line: field: problem
  earshot config                 print the embedded default config (copy it, edit it, serve -config it)
  earshot demo                   simulated customer, agent and supervisor walk through supervision
  earshot backup [-url URL] [-token TOKEN] FILE
                                 copy the running earshot's database to FILE (an admin's token)
  earshot version                print the version
`)
}
