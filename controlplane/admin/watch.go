package admin

import (
	"time"

	"google.golang.org/protobuf/proto"

	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// WatchFleet sends the status now and after every change, at most every WatchInterval. It
// returns when the caller goes away.
func (s *Server) WatchFleet(req *fleetgatev1.WatchFleetRequest, stream fleetgatev1.FleetAdmin_WatchFleetServer) error {
	ctx := stream.Context()
	var last *fleetgatev1.GetStatusResponse
	for {
		changed := s.fl.Changes()
		st, err := s.status(ctx, req.GetGroup())
		if err != nil {
			return err
		}
		if last == nil || !proto.Equal(st, last) {
			if err := stream.Send(&fleetgatev1.WatchFleetResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.opts.WatchInterval):
		}
	}
}
