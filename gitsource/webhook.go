package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// WebhookKind names how a webhook request proves it comes from the Git host.
type WebhookKind string

// The webhook kinds.
const (
	// WebhookGitHub checks X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the body.
	WebhookGitHub WebhookKind = "github"
	// WebhookGitLab checks that X-Gitlab-Token equals the secret.
	WebhookGitLab WebhookKind = "gitlab"
	// WebhookHMAC checks Webhook.Header: hex HMAC-SHA256 of the body, optionally prefixed by
	// "sha256=".
	WebhookHMAC WebhookKind = "hmac"
)

// DefaultHMACHeader is the signature header of WebhookHMAC when Webhook.Header is empty.
const DefaultHMACHeader = "X-Signature-256"

// MaxWebhookBody is the largest webhook body accepted; a larger one gets 413.
const MaxWebhookBody = 1 << 20

// Webhook is the verification setting of one source's webhook.
type Webhook struct {
	// Kind is github, gitlab or hmac. Required.
	Kind WebhookKind
	// Secret is the shared secret. Required: an empty secret refuses every request.
	Secret []byte
	// Header is the signature header of kind hmac. Default DefaultHMACHeader.
	Header string
}

// NewWebhookHandler serves POST <prefix><source-name>, e.g. /webhooks/gitops, for the sources
// that lookup knows. A request whose signature verifies triggers a fetch of that source (bursts
// coalesce, see Source.Trigger) and gets 202; a missing or bad signature gets 401 and
// triggers nothing; a body over MaxWebhookBody gets 413; an unknown source 404; another
// method 405. GitHub's "ping" event is answered 200 without a fetch.
//
// A verified delivery whose id (X-GitHub-Delivery, X-Gitlab-Event-UUID or DeliveryHeader)
// was accepted for the same source within DeliveryTTL (the last MaxDeliveries ids are kept)
// is a replay: it is answered 200 "duplicate delivery, ignored" and fetches nothing. A
// delivery without an id is not checked for repeats.
func NewWebhookHandler(prefix string, lookup func(name string) (*Source, Webhook, bool), logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &webhookHandler{prefix: prefix, lookup: lookup, log: logger, seen: newDeliveries(MaxDeliveries, DeliveryTTL, time.Now)}
}

type webhookHandler struct {
	prefix string
	lookup func(string) (*Source, Webhook, bool)
	log    *slog.Logger
	seen   *deliveries
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		http.Error(w, "no such webhook", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhooks take POST", http.StatusMethodNotAllowed)
		return
	}
	src, hook, ok := h.lookup(name)
	if !ok || src == nil {
		http.Error(w, "no such webhook", http.StatusNotFound)
		return
	}
	log := h.log.With("source", name, "remote", r.RemoteAddr)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("webhook body too large, ignored", "limit", MaxWebhookBody)
			observeWebhook(src, name, "too_large")
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		observeWebhook(src, name, "bad_request")
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if reason := verify(hook, r.Header, body); reason != "" {
		log.Warn("webhook refused", "kind", hook.Kind, "reason", reason)
		observeWebhook(src, name, "bad_signature")
		http.Error(w, "signature check failed", http.StatusUnauthorized)
		return
	}
	if hook.Kind == WebhookGitHub && r.Header.Get("X-GitHub-Event") == "ping" {
		observeWebhook(src, name, "ping")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "pong\n")
		return
	}
	if id := deliveryID(r.Header); id != "" && h.seen.seen(name+"\x00"+id) {
		log.Warn("duplicate webhook delivery ignored", "kind", hook.Kind, "delivery", id)
		observeWebhook(src, name, "duplicate")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "duplicate delivery, ignored\n")
		return
	}
	src.Trigger()
	observeWebhook(src, name, "accepted")
	log.Debug("webhook accepted, fetch scheduled", "kind", hook.Kind)
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "fetch scheduled\n")
}

// observeWebhook tells the source's Observer, if any, of a delivery's outcome.
func observeWebhook(src *Source, name, result string) {
	if o := src.cfg.Observer; o != nil {
		o.Webhook(name, result)
	}
}

// verify returns why the request is refused, or "".
func verify(hook Webhook, hdr http.Header, body []byte) string {
	if len(hook.Secret) == 0 {
		return "webhook secret is empty in the configuration"
	}
	switch hook.Kind {
	case WebhookGitHub:
		return checkHMAC(hook.Secret, hdr.Get("X-Hub-Signature-256"), "X-Hub-Signature-256", body, true)
	case WebhookGitLab:
		tok := hdr.Get("X-Gitlab-Token")
		if tok == "" {
			return "missing X-Gitlab-Token"
		}
		if subtle.ConstantTimeCompare([]byte(tok), hook.Secret) != 1 {
			return "X-Gitlab-Token does not match"
		}
		return ""
	case WebhookHMAC:
		name := hook.Header
		if name == "" {
			name = DefaultHMACHeader
		}
		return checkHMAC(hook.Secret, hdr.Get(name), name, body, false)
	}
	return "unknown webhook kind " + string(hook.Kind)
}

func checkHMAC(secret []byte, got, header string, body []byte, needPrefix bool) string {
	if got == "" {
		return "missing " + header
	}
	hexSig, had := strings.CutPrefix(got, "sha256=")
	if needPrefix && !had {
		return header + " does not start with sha256="
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return header + " is not hex"
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(sig, m.Sum(nil)) {
		return header + " does not match the body"
	}
	return ""
}
