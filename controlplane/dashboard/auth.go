package dashboard

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	"github.com/fleetgate/fleetgate/controlplane/config"
)

// cookieName is the cookie the sign-in form sets: the token itself, HttpOnly and
// SameSite=Strict, so that the page's script never sees it and other sites cannot send it.
const cookieName = "fleetgate_token"

// viewer is who reads a page.
type viewer struct {
	// Open is true when no token is configured: everyone reads.
	Open bool
	Name string
	Role config.Role
}

// roles are the roles that may read the dashboard: every role of the admin API.
var roles = map[config.Role]bool{config.RoleViewer: true, config.RoleOperator: true, config.RoleAdmin: true}

// token returns the bearer token of r: its Authorization header, else its cookie.
func token(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if scheme, tok, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return c.Value
	}
	return ""
}

// check returns the holder of tok, compared with every configured token in constant time
// (as the admin API does, controlplane/admin/auth.go).
func (h *Handler) check(tok string) (admin.Token, bool) {
	var found admin.Token
	ok := false
	if tok == "" {
		return found, false
	}
	for _, t := range h.opts.Tokens {
		if subtle.ConstantTimeCompare([]byte(tok), []byte(t.Secret)) == 1 && roles[t.Role] {
			found, ok = t, true
		}
	}
	return found, ok
}

// authed wraps a page handler with the admin API's authentication: open without tokens,
// else a valid token of any role. A page without one gets the sign-in form (401); the event
// stream and scripts get a bare 401.
func (h *Handler) authed(next func(http.ResponseWriter, *http.Request, viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(h.opts.Tokens) == 0 {
			next(w, r, viewer{Open: true})
			return
		}
		tok := token(r)
		t, ok := h.check(tok)
		if ok {
			next(w, r, viewer{Name: t.Name, Role: t.Role})
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="fleetgate"`)
		if r.URL.Path == "/events" || !strings.Contains(r.Header.Get("Accept"), "text/html") && r.Header.Get("Accept") != "" {
			http.Error(w, "unauthenticated: sign in at /login with a token of admin.tokens", http.StatusUnauthorized)
			return
		}
		msg := ""
		if tok != "" {
			msg = "That token is not one of admin.tokens in the control plane config (it may have been rotated)."
		}
		h.renderLogin(w, r, r.URL.RequestURI(), msg)
	}
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, next, msg string) {
	h.render(w, r, "login", page{Title: "Sign in", HTTPCode: http.StatusUnauthorized, Data: struct {
		Next, Error string
	}{safeNext(next), msg}})
}

// loginPage shows the sign-in form (or, when the dashboard is open, goes to the overview).
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if len(h.opts.Tokens) == 0 {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, r.URL.Query().Get("next"), "")
}

// login checks the form's token and, when it is valid, keeps it in the cookie and goes on to
// the page asked for.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad sign-in form: "+err.Error(), http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if len(h.opts.Tokens) == 0 {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if _, ok := h.check(tok); !ok {
		h.renderLogin(w, r, next, "That token is not one of admin.tokens in the control plane config.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout forgets the cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secure(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// secure reports whether the browser reached r over HTTPS (directly or through a proxy that
// says so), so that the cookie is only sent back over HTTPS.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// safeNext keeps a redirect target on this site: a path, never "//host" or a URL.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		u.Scheme != "" || u.Host != "" || strings.HasPrefix(u.Path, "/login") || u.Path == "/events" {
		return "/"
	}
	return next
}
