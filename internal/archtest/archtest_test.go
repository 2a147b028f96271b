package archtest

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/earshot/earshot"

// allowed maps each restricted component (a top-level package with its
// subpackages, or one under internal/) to the other components of ours it
// may import. Components not listed (cmd/earshot, internal/app, the test
// harnesses) may import anything: they wire the rest together.
func allowed() map[string][]string {
	return map[string][]string{
		"mixer":     nil,
		"config":    nil,
		"b2bua":     nil,
		"rtpengine": {"mixer", "rtpengine/webrtc", "rtpengine/kernel"},
		// The in-kernel relay: BPF program and map (cilium/ebpf). It
		// knows nothing of calls; rtpengine installs and removes entries.
		"rtpengine/kernel": nil,
		// WebRTC legs' ICE-lite, DTLS-SRTP and SRTP: pion only. rtpengine
		// drives it per packet; it never calls back into rtpengine.
		"rtpengine/webrtc": nil,
		// The queue plugs into the b2bua's routing seam; the b2bua never
		// sees it (cmd wires it in), nor does control (it drives the
		// queue through its own interface).
		"b2bua/queue": {"b2bua"},
		"mixer/audio": nil,
		// control shares the b2bua's domain model (tenants, users,
		// groups); only config reads the file schema.
		"control": {"b2bua"},
		// The browser workspace serves pages and keeps sessions; it
		// reaches the calls only through control's API and its hook.
		"control/web":    {"control", "b2bua"},
		"internal/phone": nil,
	}
}

// subComponents are sub-packages with import rules of their own.
var subComponents = []string{"b2bua/queue", "mixer/audio", "control/web", "rtpengine/webrtc", "rtpengine/kernel"}

// component names the part of the module a package belongs to, from its
// path relative to the module ("" for packages outside it).
func component(importPath string) string {
	rel, ok := strings.CutPrefix(importPath, module+"/")
	if !ok {
		return ""
	}
	parts := strings.Split(rel, "/")
	if parts[0] == "internal" && len(parts) > 1 {
		return "internal/" + parts[1]
	}
	if len(parts) > 1 && slices.Contains(subComponents, parts[0]+"/"+parts[1]) {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

// violations returns one message per forbidden edge of the import graph,
// given as package → direct imports.
func violations(graph map[string][]string) []string {
	rules := allowed()
	var out []string
	for pkg, imports := range graph {
		from := component(pkg)
		rule, restricted := rules[from]
		if !restricted {
			continue
		}
		for _, imp := range imports {
			to := component(imp)
			if to == "" || to == from || slices.Contains(rule, to) {
				continue
			}
			out = append(out, fmt.Sprintf("%s imports %s: %s may import %s of ours", pkg, imp, from, describe(rule)))
		}
	}
	sort.Strings(out)
	return out
}

func describe(rule []string) string {
	if len(rule) == 0 {
		return "nothing"
	}
	return "only " + strings.Join(rule, ", ")
}

// importGraph lists every package of the module and everything they depend
// on, each with its direct imports.
func importGraph(t *testing.T) map[string][]string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list imports: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-e", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	graph := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || component(fields[0]) == "" {
			continue
		}
		graph[fields[0]] = fields[1:]
	}
	return graph
}

func TestImportDirection(t *testing.T) {
	graph := importGraph(t)
	// The rules must bite: each restricted component that exists in the
	// module has to show up, or the listing went wrong.
	seen := map[string]bool{}
	for pkg := range graph {
		seen[component(pkg)] = true
	}
	for _, c := range []string{"mixer", "config", "b2bua", "rtpengine", "internal/phone", "b2bua/queue", "mixer/audio", "rtpengine/webrtc", "rtpengine/kernel"} {
		if !seen[c] {
			t.Errorf("package %s not found by go list; the import rules would check nothing for it", c)
		}
	}
	for _, v := range violations(graph) {
		t.Error(v)
	}
}

func TestViolationsNamesTheEdge(t *testing.T) {
	graph := map[string][]string{
		module + "/mixer":                 {"sync", module + "/mixer/internal/tone"},
		module + "/mixer/internal/tone":   {"math"},
		module + "/rtpengine":             {module + "/mixer", module + "/b2bua"},
		module + "/control":               {module + "/b2bua", "net/http"},
		module + "/b2bua":                 {"github.com/emiago/sipgo"},
		module + "/internal/phone":        {module + "/internal/app"},
		module + "/cmd/earshot":           {module + "/b2bua", module + "/rtpengine", module + "/control"},
		module + "/config/internal/check": {module + "/config"},
		module + "/b2bua/queue":           {module + "/b2bua", "sync"},
		module + "/mixer/audio":           {module + "/mixer"},
		module + "/rtpengine/webrtc":      {module + "/rtpengine", "github.com/pion/srtp/v3"},
	}
	got := violations(graph)
	want := []string{
		module + "/internal/phone imports " + module + "/internal/app: internal/phone may import nothing of ours",
		module + "/mixer/audio imports " + module + "/mixer: mixer/audio may import nothing of ours",
		module + "/rtpengine imports " + module + "/b2bua: rtpengine may import only mixer, rtpengine/webrtc, rtpengine/kernel of ours",
		module + "/rtpengine/webrtc imports " + module + "/rtpengine: rtpengine/webrtc may import nothing of ours",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// schemaDecoders are the components that may import the YAML decoder:
// only config reads the file schema; everything else gets typed values.
var schemaDecoders = []string{"config"}

func TestOnlyConfigDecodesTheFileSchema(t *testing.T) {
	graph := importGraph(t)
	found := false
	for pkg, imports := range graph {
		for _, imp := range imports {
			if !strings.HasPrefix(imp, "gopkg.in/yaml") {
				continue
			}
			found = true
			if c := component(pkg); !slices.Contains(schemaDecoders, c) {
				t.Errorf("%s imports %s: only %v may decode the file schema", pkg, imp, schemaDecoders)
			}
		}
	}
	if !found {
		t.Error("no package imports a YAML decoder: the rule checks nothing")
	}
}
