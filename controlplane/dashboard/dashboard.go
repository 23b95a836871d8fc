// Package dashboard serves the read-only fleet dashboard on the control plane's HTTP port, at
// "/":
//
//   - the fleet overview ("/"): every group with its desired version, its pin, freeze and
//     rollout state, its nodes counted by state (converged, behind, nacking, drifting,
//     disconnected) and its failed builds;
//   - a group ("/groups/<group>"): its versions, its nodes (paginated, with a filter box), its
//     rollout's progress and its audit trail;
//   - a version ("/groups/<group>/versions/<sequence>"): its resources by kind and its diff to
//     the previous version.
//
// Pages are rendered with html/template from the admin API's own answers (the API interface
// is the subset of FleetAdmin it reads; *admin.Server implements it), so the numbers on the
// page are the numbers `fleetgate status` prints. A page stays live without reloading: it
// listens on "/events" (server-sent events, one "change" event at most every
// Options.MinInterval after the fleet changes) and then fetches itself again and swaps the
// sections marked data-live. There is no Node build step: the script and the style sheet are
// plain files embedded in the binary.
//
// Authentication is the admin API's: with no token configured the dashboard is open, as the
// API is; otherwise every request needs a token of any role (viewer, operator or admin) as
// "Authorization: Bearer <token>" or in the fleetgate_token cookie that the sign-in form
// ("/login") sets. The dashboard never changes anything.
package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// API is what the dashboard reads of the admin API; *admin.Server implements it. The
// dashboard calls these methods in process, after its own authentication.
type API interface {
	GetStatus(context.Context, *fleetgatev1.GetStatusRequest) (*fleetgatev1.GetStatusResponse, error)
	ListNodes(context.Context, *fleetgatev1.ListNodesRequest) (*fleetgatev1.ListNodesResponse, error)
	ListVersions(context.Context, *fleetgatev1.ListVersionsRequest) (*fleetgatev1.ListVersionsResponse, error)
	GetVersion(context.Context, *fleetgatev1.GetVersionRequest) (*fleetgatev1.GetVersionResponse, error)
	DiffVersions(context.Context, *fleetgatev1.DiffVersionsRequest) (*fleetgatev1.DiffVersionsResponse, error)
	ListAudit(context.Context, *fleetgatev1.ListAuditRequest) (*fleetgatev1.ListAuditResponse, error)
	GetRollout(context.Context, *fleetgatev1.GetRolloutRequest) (*fleetgatev1.GetRolloutResponse, error)
}

var _ API = (*admin.Server)(nil)

// Fleet tells the dashboard when to update open pages; *fleet.Fleet implements it.
type Fleet interface {
	// Changes returns a channel closed at the next change of any group or node.
	Changes() <-chan struct{}
}

// Options configure the dashboard.
type Options struct {
	// Tokens are the admin API's bearer tokens; any role may read the dashboard. Default
	// none: the dashboard is open, as the admin API is.
	Tokens []admin.Token
	// MinInterval is the shortest time between two live updates sent to a page. Default
	// 250ms.
	MinInterval time.Duration
	// Refresh is how often an open page is updated when nothing changed (the audit trail
	// and build failures do not always move the fleet). Default 15s.
	Refresh time.Duration
	// PageSize is the default number of nodes per page of a group's node table (the page
	// may ask for up to 500 with ?per=). Default 50.
	PageSize int
	// Logger receives the dashboard's errors. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MinInterval <= 0 {
		o.MinInterval = 250 * time.Millisecond
	}
	if o.Refresh <= 0 {
		o.Refresh = 15 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 50
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Handler serves the dashboard.
type Handler struct {
	ctx   context.Context
	api   API
	fl    Fleet
	opts  Options
	mux   *http.ServeMux
	pages map[string]*template.Template
	// assets is a hash of the static files, appended to their URLs so that a new binary's
	// files are not hidden by a browser's cache.
	assets string
}

// New returns the dashboard reading api and following fl. Cancelling ctx (the control
// plane's shutdown) ends every live update stream, so that http.Server.Shutdown does not wait
// on open pages.
func New(ctx context.Context, api API, fl Fleet, opts Options) (*Handler, error) {
	h := &Handler{ctx: ctx, api: api, fl: fl, opts: opts.withDefaults(), mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	sum := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		sum.Write(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: read embedded static files: %w", err)
	}
	h.assets = hex.EncodeToString(sum.Sum(nil))[:12]
	for _, page := range []string{"overview", "group", "version", "login", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: parse template %s: %w", page, err)
		}
		h.pages[page] = t
	}

	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	h.mux.HandleFunc("GET /login", h.loginPage)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("POST /logout", h.logout)
	h.mux.HandleFunc("GET /{$}", h.authed(h.overview))
	h.mux.HandleFunc("GET /groups/{group}", h.authed(h.group))
	h.mux.HandleFunc("GET /groups/{group}/versions/{version}", h.authed(h.version))
	h.mux.HandleFunc("GET /events", h.authed(h.events))
	h.mux.HandleFunc("/", h.authed(func(w http.ResponseWriter, r *http.Request, v viewer) {
		h.fail(w, r, v, status.Errorf(codes.NotFound, "no page at %s", r.URL.Path))
	}))
	return h, nil
}

// ServeHTTP serves the dashboard's pages, events and static files.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// The pages load their script and style from here only, and are never framed.
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}

// page is what every template gets: the layout's fields and the page's own data.
type page struct {
	Title  string
	Crumbs []crumb
	Viewer viewer
	Assets string
	// Events is the live update URL of the page ("" for none).
	Events   string
	Now      time.Time
	Replica  string
	Leader   bool
	Data     any
	HTTPCode int
}

type crumb struct{ Name, Href string }

// render writes page name with p.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	p.Assets = h.assets
	p.Now = time.Now()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var buf bytes.Buffer
	if err := h.pages[name].Execute(&buf, p); err != nil {
		h.opts.Logger.Error("dashboard: render page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "dashboard: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	if p.HTTPCode != 0 {
		w.WriteHeader(p.HTTPCode)
	}
	_, _ = w.Write(buf.Bytes())
}

// fail renders an error page for an error of the admin API (a gRPC status).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, v viewer, err error) {
	if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		return // the browser went away
	}
	code := http.StatusServiceUnavailable
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
		switch st.Code() {
		case codes.NotFound:
			code = http.StatusNotFound
		case codes.InvalidArgument:
			code = http.StatusBadRequest
		case codes.Unauthenticated:
			code = http.StatusUnauthorized
		case codes.PermissionDenied:
			code = http.StatusForbidden
		}
	}
	if code >= 500 {
		h.opts.Logger.Warn("dashboard: admin API call failed", "path", r.URL.Path, "err", err)
	}
	h.render(w, r, "error", page{Title: http.StatusText(code), Viewer: v, HTTPCode: code,
		Crumbs: []crumb{{Name: "Fleet", Href: "/"}}, Data: struct {
			Code    int
			Message string
		}{code, msg}})
}
