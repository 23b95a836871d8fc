// Package dashboard tests the control plane's fleet dashboard in a real browser: headless
// Chromium, driven from Go with chromedp, loads the dashboard of a control plane running in
// the test process with agents (memory sinks) and a real Git repository, checks its counts
// and tables against the admin API's answers, and watches a commit roll out on the open page.
//
// It needs a Chromium binary (Debian's chromium package; FLEETGATE_CHROMIUM names another)
// and skips, saying so, when there is none. With FLEETGATE_SCREENSHOTS=DIR it writes the
// screenshots docs/img holds (dashboard-overview.png, dashboard-group.png,
// dashboard-version.png) into DIR:
//
//	FLEETGATE_SCREENSHOTS=$PWD/docs/img go test ./test/dashboard/ -count=1
package dashboard
