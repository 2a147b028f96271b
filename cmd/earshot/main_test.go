package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot/earshot/b2bua"
	"github.com/earshot/earshot/config"
	"github.com/earshot/earshot/mixer/audio"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestTransactionLingerDefault: the configuration's default linger is
// the one the b2bua documents and its end-to-end tests run with.
func TestTransactionLingerDefault(t *testing.T) {
	if got := config.Default().SIP.TransactionLinger.D(); got != b2bua.DefaultTransactionLinger {
		t.Fatalf("sip.transaction_linger defaults to %v, b2bua.DefaultTransactionLinger is %v", got, b2bua.DefaultTransactionLinger)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd("version")
	if code != 0 || !strings.HasPrefix(out, "earshot ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errs := runCmd("frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Fatalf("got %d %q", code, errs)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, config.DefaultYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCmd("check-config", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("good config: %d %q %q", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.yaml")
	src := strings.Replace(string(config.DefaultYAML()), "strategy: ring-all", "strategy: ring-some", 1)
	src = strings.Replace(src, "max_calls: 1000", "max_calls: 0\n  max_cals: 3", 1)
	if err := os.WriteFile(bad, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd("check-config", bad)
	if code != 1 {
		t.Fatalf("bad config exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) < 2 {
		t.Fatalf("want every problem reported, got %q", errs)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, bad+":") {
			t.Errorf("problem line %q is not file:line: field: problem", l)
		}
	}
	if !strings.Contains(errs, "strategy") || !strings.Contains(errs, "max_cals") {
		t.Errorf("problems not named: %q", errs)
	}
}

func TestServeRefusesDemoCredentialsOffLoopback(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "exposed.yaml")
	src := strings.Replace(string(config.DefaultYAML()), "address: 127.0.0.1:5060", "address: 0.0.0.0:5060", 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd("serve", "-config", path)
	if code != 1 || !strings.Contains(errs, "demo") {
		t.Fatalf("serve with demo credentials on 0.0.0.0: exit %d %q", code, errs)
	}
}

// TestPrintConfig: `earshot config` prints the embedded default, which
// check-config accepts as it is.
func TestPrintConfig(t *testing.T) {
	code, out, errs := runCmd("config")
	if code != 0 || out != string(config.DefaultYAML()) {
		t.Fatalf("config: %d, %d bytes, stderr %q; want the embedded default", code, len(out), errs)
	}
	f := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(f, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCmd("check-config", f); code != 0 {
		t.Fatalf("check-config on the printed default: %d %q", code, errs)
	}
	if code, _, _ := runCmd("config", "extra"); code != 2 {
		t.Fatalf("config with an argument: %d, want 2", code)
	}
}

// check-config plays the queue's sound files in its head: a missing file,
// a file that is not WAV, a WAV at the wrong rate and an unknown overflow
// group are each reported with file:line and the field.
func TestCheckConfigQueueSounds(t *testing.T) {
	dir := t.TempDir()
	wrongRate := filepath.Join(dir, "cd.wav")
	wav := audio.EncodeWAV(make([]int16, 800))
	binary.LittleEndian.PutUint32(wav[24:], 44100) // the fmt chunk's sample rate
	if err := os.WriteFile(wrongRate, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	notWAV := filepath.Join(dir, "notes.wav")
	if err := os.WriteFile(notWAV, []byte("la la la"), 0o600); err != nil {
		t.Fatal(err)
	}
	prompts := filepath.Join(dir, "prompts")
	if err := os.Mkdir(prompts, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prompts, "queue-welcome.wav"), []byte("RIFF"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, edit, want string
	}{
		{"missing", "music: " + filepath.Join(dir, "nope.wav"), "no such file"},
		{"not wav", "music: " + notWAV, "not a RIFF/WAVE file"},
		{"wrong rate", "music: " + wrongRate, "44100 Hz"},
		{"bad prompt", "prompts: " + prompts, "queue-welcome.wav"},
		{"unknown overflow", "overflow: {group: sales}", "no group \"sales\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(string(config.DefaultYAML()), "          answer: answer", "          "+tc.edit+"\n          answer: answer", 1)
			src = strings.Replace(src, "          overflow:               # after max_wait, or with no agent logged in\n            status: 480\n            reason: Temporarily Unavailable\n", "", 1)
			path := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errs := runCmd("check-config", path)
			if code != 1 || !strings.Contains(errs, tc.want) || !strings.HasPrefix(errs, path+":") || !strings.Contains(errs, "tenants[0].groups[0].queue.") {
				t.Fatalf("exit %d, %q: want file:line, the queue field and %q", code, errs, tc.want)
			}
		})
	}
}
