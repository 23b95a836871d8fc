package gitsource

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDeliveriesForgetOldestAndExpired(t *testing.T) {
	now := time.Unix(0, 0)
	d := newDeliveries(3, time.Minute, func() time.Time { return now })
	for _, k := range []string{"a", "b", "c"} {
		if d.seen(k) {
			t.Fatalf("%s seen before it was recorded", k)
		}
	}
	if !d.seen("a") {
		t.Fatal("a repeated within the ttl was not seen")
	}
	d.seen("d") // over max: the oldest (a) is forgotten
	if d.seen("a") {
		t.Fatal("a still remembered beyond max ids")
	}
	now = now.Add(2 * time.Minute)
	if d.seen("d") {
		t.Fatal("d remembered after its ttl")
	}
}

// TestWebhookReplayIgnored (issue 11 §7): a signed delivery replayed 21 times triggers one
// fetch; each replay is answered 200 "duplicate delivery, ignored".
func TestWebhookReplayIgnored(t *testing.T) {
	secret := []byte("s3cret")
	body := `{"ref":"refs/heads/main"}`
	for _, tc := range []struct {
		kind   WebhookKind
		header string
		sign   map[string]string
	}{
		{WebhookGitHub, "X-GitHub-Delivery", map[string]string{"X-Hub-Signature-256": "sha256=" + sign(secret, body)}},
		{WebhookGitLab, "X-Gitlab-Event-UUID", map[string]string{"X-Gitlab-Token": string(secret)}},
		{WebhookHMAC, DeliveryHeader, map[string]string{"X-Signature-256": sign(secret, body)}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			src := &Source{trigger: make(chan struct{}, 1)}
			h := NewWebhookHandler("/webhooks/", func(string) (*Source, Webhook, bool) {
				return src, Webhook{Kind: tc.kind, Secret: secret}, true
			}, nil)
			post := func(id string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodPost, "/webhooks/gitops", strings.NewReader(body))
				for k, v := range tc.sign {
					req.Header.Set(k, v)
				}
				req.Header.Set(tc.header, id)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			if rec := post("delivery-1"); rec.Code != http.StatusAccepted {
				t.Fatalf("first delivery: %d %s", rec.Code, rec.Body)
			}
			<-src.trigger
			for i := range 21 {
				rec := post("delivery-1")
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "duplicate delivery, ignored") {
					t.Fatalf("replay %d: %d %q", i, rec.Code, rec.Body)
				}
			}
			select {
			case <-src.trigger:
				t.Fatal("a replayed delivery triggered a fetch")
			default:
			}
			if rec := post(fmt.Sprintf("delivery-%d", 2)); rec.Code != http.StatusAccepted {
				t.Fatalf("a new delivery: %d %s", rec.Code, rec.Body)
			}
		})
	}
}
