package discovery

import "runtime"

// watch is the watcher of one group's desired version.
type watch struct {
	streams int
	stop    chan struct{} // closed when the group's last stream ends
}

// maxSenders bounds the shared sender goroutines. Sending a small update only queues it on
// the connection (the connection's own writer goroutine does the I/O), so a few per core
// are enough for thousands of streams.
func maxSenders() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// watchGroup queues every stream of group for sending each time the group's desired version
// may have changed (changed is closed), until stop is closed.
func (s *Server) watchGroup(group string, changed, stop <-chan struct{}) {
	var batch []*session
	for {
		select {
		case <-changed:
		case <-stop:
			return
		}
		// The next channel first: a change from here on closes it, so none is missed.
		changed = s.provider.DesiredChanged(group)
		batch = batch[:0]
		s.mu.Lock()
		for _, sess := range s.sessions {
			if sess.group == group {
				batch = append(batch, sess)
			}
		}
		s.mu.Unlock()
		s.kick(batch...)
		clear(batch)
	}
}

// kick queues sessions for a sender: an update may be due to them.
func (s *Server) kick(sessions ...*session) {
	s.qmu.Lock()
	for _, sess := range sessions {
		if !sess.queued {
			sess.queued = true
			s.queue = append(s.queue, sess)
		}
	}
	start := min(len(s.queue), maxSenders()) - s.senders
	s.senders += max(start, 0)
	s.qmu.Unlock()
	for range start {
		go s.sender()
	}
}

// sender sends what is due to queued sessions until the queue is empty.
func (s *Server) sender() {
	for {
		s.qmu.Lock()
		n := len(s.queue)
		if n == 0 {
			s.queue = nil // let a burst's backing array go
			s.senders--
			s.qmu.Unlock()
			return
		}
		sess := s.queue[n-1]
		s.queue[n-1] = nil
		s.queue = s.queue[:n-1]
		sess.queued = false
		s.qmu.Unlock()
		s.advance(sess)
	}
}
