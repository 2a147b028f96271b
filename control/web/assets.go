package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed assets
var assetFS embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string // strong: the content's hash
}

// assetSet holds the page and its static files. The page names each file
// with ?v=<hash>, so a file can be cached for a year (immutable) and a new
// build still loads at once; the page itself is revalidated (ETag) on
// every load.
type assetSet struct {
	page  asset
	files map[string]asset
}

func newAsset(name string, body []byte) asset {
	sum := sha256.Sum256(body)
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	return asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

func loadAssets() (*assetSet, error) {
	set := &assetSet{files: map[string]asset{}}
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	var page []byte
	for _, e := range entries {
		b, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			return nil, err
		}
		if e.Name() == "index.html" {
			page = b
			continue
		}
		set.files[e.Name()] = newAsset(e.Name(), b)
	}
	if page == nil {
		return nil, fmt.Errorf("web: assets/index.html missing")
	}
	// {{name}} in the page becomes /assets/name?v=<hash>.
	for name, a := range set.files {
		page = bytes.ReplaceAll(page, []byte("{{"+name+"}}"), []byte("/assets/"+name+"?v="+strings.Trim(a.etag, `"`)))
	}
	set.page = newAsset("index.html", page)
	return set, nil
}

// securityHeaders are sent with the page: scripts, styles and connections
// from the page's own origin only, no framing, no referrer.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func serve(rw http.ResponseWriter, r *http.Request, a asset, cache string) {
	h := rw.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", cache)
	h.Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(a.body)))
	rw.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = rw.Write(a.body)
	}
}

func (w *Workspace) servePage(rw http.ResponseWriter, r *http.Request) {
	securityHeaders(rw.Header())
	serve(rw, r, w.assets.page, "no-cache")
}

func (w *Workspace) serveAsset(rw http.ResponseWriter, r *http.Request) {
	a, ok := w.assets.files[r.PathValue("name")]
	if !ok {
		writeError(rw, http.StatusNotFound, "no such file")
		return
	}
	cache := "no-cache"
	if r.URL.Query().Get("v") == strings.Trim(a.etag, `"`) {
		cache = "public, max-age=31536000, immutable"
	}
	serve(rw, r, a, cache)
}
