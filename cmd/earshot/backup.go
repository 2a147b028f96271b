package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// backup fetches a consistent copy of the running earshot's database
// (GET /api/v1/backup, an admin's token) into FILE: written to a temporary
// file beside it, checked to open as a database, then renamed into place,
// so FILE is never half written.
func backup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "earshot's HTTP address")
	token := fs.String("token", os.Getenv("EARSHOT_TOKEN"), "an admin's API token (default $EARSHOT_TOKEN)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: earshot backup [-url URL] [-token TOKEN] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *token == "" {
		fs.Usage()
		return 2
	}
	if err := fetchBackup(*url, *token, fs.Arg(0)); err != nil {
		fmt.Fprintf(stderr, "earshot backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: backed up\n", fs.Arg(0))
	return 0
}

func fetchBackup(url, token, file string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/backup", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return fmt.Errorf("%s: %s", res.Status, msg)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := io.Copy(tmp, res.Body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	db, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("the copy does not open as a database: %w", err)
	}
	if err := db.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
