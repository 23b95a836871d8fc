package dashboard

import (
	"fmt"
	"net/http"
	"time"
)

// events serves "/events": a server-sent event stream that says "change" when the fleet
// changed (and every Options.Refresh when nothing did), at most every Options.MinInterval,
// so that 1,000 nodes ACKing one after another make a few updates a second, not a thousand.
// The page answers by fetching itself again; the stream carries no data of its own, so a
// page sees exactly what a reload would show.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, _ viewer) {
	// subscribe before saying hello, so that no change after the hello is missed
	changed := h.fl.Changes()
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// retry: how long the browser waits before reconnecting after the stream ended
	if _, err := fmt.Fprint(w, "retry: 1000\n: fleetgate live updates\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	ctx := r.Context()
	refresh := time.NewTicker(h.opts.Refresh)
	defer refresh.Stop()
	var id uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.ctx.Done():
			return
		case <-changed:
		case <-refresh.C:
		}
		changed = h.fl.Changes() // before sending: a change while sending is the next event
		id++
		if _, err := fmt.Fprintf(w, "id: %d\nevent: change\ndata: %d\n\n", id, time.Now().UnixMilli()); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		// coalesce: the next event waits at least MinInterval, whatever changes meanwhile
		t := time.NewTimer(h.opts.MinInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-h.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
