// Package web serves Herald's demo page: a notification center in plain
// HTML and JavaScript on the browser client package (@heraldhq/client,
// served as /herald-client.js): the user's inbox with read state and
// counts, kept current by one stream shared by the page's tabs, a live
// room, and a form that sends through POST /v1/notify. Everything is
// embedded in the binary; the page loads nothing from elsewhere.
package web

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the page's files
	"encoding/hex"
	"net/http"
	"time"
)

var (
	//go:embed static/index.html
	indexHTML []byte
	//go:embed static/app.js
	appJS []byte
	//go:embed static/style.css
	styleCSS []byte
	// heraldClientJS is the browser client package (sdk/js, @heraldhq/client)
	// as one minified ES module, built by `make sdk` and committed; `make
	// test` fails when it differs from a fresh build.
	//go:embed static/herald-client.js
	heraldClientJS []byte
)

// contentSecurityPolicy allows only this origin, which is all the page
// needs, so that a notification's text can never load or run anything.
const contentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"

type asset struct {
	contentType string
	body        []byte
	etag        string
	// public lets pages of any origin read it: a module script from
	// another origin is fetched in CORS mode and refused without it.
	public bool
}

// Handler serves the demo page at / with its script, stylesheet and the
// browser client package (/herald-client.js, readable by any origin), and
// 404 for any other path. It answers GET and HEAD only.
func Handler() http.Handler {
	// An ES module: `import { createHeraldClient } from "/herald-client.js"`,
	// also from pages of other origins (public code, read without
	// credentials).
	client := newAsset("text/javascript; charset=utf-8", heraldClientJS)
	client.public = true
	assets := map[string]asset{
		"/":                 newAsset("text/html; charset=utf-8", indexHTML),
		"/app.js":           newAsset("text/javascript; charset=utf-8", appJS),
		"/style.css":        newAsset("text/css; charset=utf-8", styleCSS),
		"/herald-client.js": client,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		// Revalidate every time (cheap with the ETag), so a new build's
		// page is never mixed with an old script.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		if a.public {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}

func newAsset(contentType string, body []byte) asset {
	sum := sha256.Sum256(body)
	return asset{contentType: contentType, body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}
