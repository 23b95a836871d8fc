package discovery

import "slices"

// acquireSlot takes a full-update slot for sess, or puts it in line for one. ticket names
// this grant of the slot, for expireSlot.
func (s *Server) acquireSlot(sess *session) (ticket uint64, ok bool) {
	s.slotMu.Lock()
	defer s.slotMu.Unlock()
	if sess.slot {
		return sess.slotTicket, true
	}
	if s.slotsUsed < s.opts.MaxConcurrentFull {
		s.slotsUsed++
		sess.slot = true
		sess.slotTicket++
		return sess.slotTicket, true
	}
	if !sess.waitSlot {
		sess.waitSlot = true
		s.waiters = append(s.waiters, sess)
		s.waiting.Add(1)
		s.slotWaits.Add(1)
	}
	return 0, false
}

// expireSlot gives back the slot of sess if it still holds the grant named ticket: the large
// update it was taken for has held it for Options.SlotTimeout without being answered. The
// update stays in flight; only the slot passes on.
func (s *Server) expireSlot(sess *session, ticket uint64) {
	s.giveBackSlot(sess, func() bool { return sess.slotTicket == ticket })
}

// releaseSlot gives back the session's slot, if it holds one: it goes to the first session
// in line, which is queued for a sender.
func (s *Server) releaseSlot(sess *session) { s.giveBackSlot(sess, nil) }

// giveBackSlot passes the slot of sess to the first session in line, if sess holds one and
// still (when given, with slotMu held) is true.
func (s *Server) giveBackSlot(sess *session, still func() bool) {
	s.slotMu.Lock()
	if !sess.slot || (still != nil && !still()) {
		s.slotMu.Unlock()
		return
	}
	sess.slot = false
	next := s.passSlotLocked()
	s.slotMu.Unlock()
	if next != nil {
		s.kick(next)
	}
}

// passSlotLocked hands a freed slot to the first session in line (nil if none); slotMu is
// held.
func (s *Server) passSlotLocked() *session {
	if len(s.waiters) == 0 {
		s.slotsUsed--
		return nil
	}
	next := s.waiters[0]
	s.waiters[0] = nil
	s.waiters = s.waiters[1:]
	if len(s.waiters) == 0 {
		s.waiters = nil
	}
	next.waitSlot = false
	next.slot = true
	next.slotTicket++
	s.waiting.Add(-1)
	return next
}

// dropSlot takes an ending session out of line and gives back its slot.
func (s *Server) dropSlot(sess *session) {
	s.slotMu.Lock()
	if sess.waitSlot {
		sess.waitSlot = false
		s.waiting.Add(-1)
		if i := slices.Index(s.waiters, sess); i >= 0 {
			s.waiters = slices.Delete(s.waiters, i, i+1)
		}
	}
	s.slotMu.Unlock()
	s.releaseSlot(sess)
}
