package gitsource_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/fleetgate/fleetgate/gitsource"
)

// Follow a branch over HTTPS with a token, rebuild only when production/ changed, and accept
// GitHub webhooks for an immediate fetch.
func Example() {
	ctx := context.Background()
	src, err := gitsource.Open(ctx, gitsource.Config{
		Name:     "gitops",
		URL:      "https://git.example.com/ops/gateway.git",
		Ref:      "main",
		Interval: time.Minute,
		CacheDir: "/var/lib/fleetgate/git/gitops",
		Auth:     gitsource.Auth{Username: "fleetgate", PasswordFile: "/etc/fleetgate/git-token"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	http.Handle("/webhooks/", gitsource.NewWebhookHandler("/webhooks/",
		func(name string) (*gitsource.Source, gitsource.Webhook, bool) {
			return src, gitsource.Webhook{Kind: gitsource.WebhookGitHub, Secret: []byte("from secret_file")}, name == "gitops"
		}, nil))

	var built string
	_ = src.Run(ctx, func(ctx context.Context, rev gitsource.Revision) {
		h, err := src.TreeHash(ctx, rev.Commit, "production")
		if err != nil || h == built {
			return // unchanged: nothing to rebuild
		}
		files, err := src.Files(ctx, rev.Commit, []string{"base", "production"})
		if err != nil {
			log.Printf("commit %s: %v", rev.Commit, err)
			return
		}
		built = h
		log.Printf("commit %s (%s): %d files", rev.Commit[:12], rev.Subject, len(files))
	})
}
