package server

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/urumi/urumi/internal/provision"
)

// The dashboard is a page and its script and style, served from the
// binary: a store owner signs in with their API token and creates, watches,
// retries and deletes their own stores through the same /v1 API.
//
//go:embed ui
var uiFiles embed.FS

// dashboardCSP lets the page load only its own script and style and talk
// only to this server.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one file of the dashboard, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func newAsset(body []byte, contentType string) asset {
	sum := sha256.Sum256(body)
	return asset{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// serve writes the asset; a client holding its ETag gets 304. Browsers
// revalidate every time (no-cache), so a new urumi's page is seen at once.
func (a asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// handleIndex serves the dashboard's page, rendered once with the plans a
// store can have. The page is part of the binary: a template that does not
// parse is a build mistake, which the tests catch, so it panics.
func handleIndex(plans provision.Plans) http.Handler {
	tmpl := template.Must(template.ParseFS(uiFiles, "ui/index.html"))
	var b bytes.Buffer
	data := struct {
		Plans                  []provision.Plan
		DefaultPlan            string
		MinNameLen, MaxNameLen int
	}{plans.All(), plans.Default(), provision.MinNameLen, provision.MaxNameLen}
	if err := tmpl.Execute(&b, data); err != nil {
		panic(fmt.Sprintf("dashboard page: %v", err))
	}
	return http.HandlerFunc(newAsset(b.Bytes(), "text/html; charset=utf-8").serve)
}

// handleUIFile serves the page's script and style.
func handleUIFile() http.Handler {
	files := map[string]asset{}
	for name, contentType := range map[string]string{
		"app.js":  "text/javascript; charset=utf-8",
		"app.css": "text/css; charset=utf-8",
	} {
		body, err := uiFiles.ReadFile("ui/" + name)
		if err != nil {
			panic(fmt.Sprintf("dashboard file %s not embedded: %v", name, err))
		}
		files[name] = newAsset(body, contentType)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[r.PathValue("file")]
		if !ok {
			writeError(w, r, errorf(http.StatusNotFound, codeNotFound, "no such dashboard file %s", r.URL.Path))
			return
		}
		a.serve(w, r)
	})
}
