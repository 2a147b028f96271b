package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/internal/app"
	bolt "go.etcd.io/bbolt"
)

// earshot backup copies the running server's database: the copy opens and
// holds the schema; a supervisor's token is refused (403) and leaves no
// file behind.
func TestBackupOfRunningServer(t *testing.T) {
	cfg := config.Default()
	cfg.SIP.Listen = []config.Listener{{Transport: "udp", Address: "127.0.0.1:0"}}
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Media.PortMin, cfg.Media.PortMax = 45300, 45399
	a, err := app.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown() })
	url := "http://" + a.HTTPAddr
	file := filepath.Join(t.TempDir(), "copy.db")
	if code, out, errs := runCmd("backup", "-url", url, "-token", "demo-9000", file); code != 0 || !strings.Contains(out, "backed up") {
		t.Fatalf("backup: %d %q %q", code, out, errs)
	}
	db, err := bolt.Open(file, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("meta")).Get([]byte("schema_version")) == nil || tx.Bucket([]byte("audit")) == nil {
			t.Errorf("the copy lacks the schema")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	refused := filepath.Join(t.TempDir(), "no.db")
	if code, _, errs := runCmd("backup", "-url", url, "-token", "demo-2001", refused); code != 1 || !strings.Contains(errs, "403") {
		t.Fatalf("backup with a supervisor's token: %d %q", code, errs)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(refused), "*")); len(matches) != 0 {
		t.Fatalf("files left behind: %v", matches)
	}
	if code, _, _ := runCmd("backup", file); code != 2 {
		t.Fatalf("backup without a token: %d, want 2 (usage)", code)
	}
}
