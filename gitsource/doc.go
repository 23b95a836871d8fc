// Package gitsource follows one Git repository at one ref and turns it into revisions and the
// files below some paths at a revision.
//
// A Source keeps a bare clone (the cache) in its CacheDir, reused across restarts: an existing
// cache is fetched, never re-cloned, and a corrupt cache, or one that belongs to another URL,
// is moved aside and cloned again. Only the tracked ref is fetched. Files are read straight
// from the object store, without a checkout.
//
// A source is fetched when Run starts, on every poll tick (Interval, default 30s, ±10% jitter),
// on Trigger (used by the webhook handler of NewWebhookHandler) and on Fetch (the admin "sync").
// A failing remote is retried with exponential backoff capped at the poll interval; the last
// accepted revision stays available through all of it.
//
// When SigningKeys is set, a head commit that is unsigned or signed by a key outside the
// keyring is not accepted: Status reports it as Rejected with the reason, and Head keeps the
// last accepted revision.
//
// gitsource knows nothing of snapshots or the control plane. All Git work is done with
// go-git; for local paths and file:// URLs go-git itself runs git-upload-pack, so those two
// transports need the git binaries installed.
//
// Typical use:
//
//	src, err := gitsource.Open(ctx, gitsource.Config{
//		Name: "gitops", URL: "https://git.example.com/ops/gateway.git", Ref: "main",
//		CacheDir: "/var/lib/fleetgate/git/gitops",
//		Auth: gitsource.Auth{Username: "fleetgate", PasswordFile: "/etc/fleetgate/git-token"},
//	})
//	if err != nil { ... }
//	go src.Run(ctx, func(ctx context.Context, rev gitsource.Revision) {
//		files, err := src.Files(ctx, rev.Commit, []string{"base", "production"})
//		...
//	})
package gitsource
