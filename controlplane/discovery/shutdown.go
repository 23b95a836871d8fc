package discovery

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// shutdownStatus ends every stream of a server that stops (Server.Shutdown). Agents read
// Unavailable as "reconnect now": to the next control plane address, or to this one when it
// comes back.
var shutdownStatus = status.New(codes.Unavailable, "control plane shutting down; reconnect to another replica or to this one when it is back")

// Shutdown ends every stream with codes.Unavailable ("control plane shutting down") and
// refuses new ones the same way, so that agents reconnect at once instead of waiting for the
// connection to break. It returns without waiting for the handlers; grpc.Server's
// GracefulStop, called after it, waits for them (they return as soon as their Recv sees the
// status). Call it once the server is to stop; it cannot be undone.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closing.Store(true)
	list := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		list = append(list, sess)
	}
	s.mu.Unlock()
	if len(list) > 0 {
		s.log.Info("ending agent streams: control plane shutting down; agents reconnect at once", "streams", len(list))
	}
	for _, sess := range list {
		abort(sess.stream, shutdownStatus)
	}
}
