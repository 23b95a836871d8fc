package bench

import (
	"context"
	"net"
	"sync/atomic"

	"google.golang.org/grpc/stats"
)

// countingListener counts the bytes the server writes to and reads from every connection:
// TCP payload, so HTTP/2 frame headers, pings and window updates are included.
type countingListener struct {
	net.Listener
	out, in atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.out.Add(int64(n))
	return n, err
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.in.Add(int64(n))
	return n, err
}

// payloadStats counts gRPC message bytes (with the 5-byte gRPC prefix) sent and received.
type payloadStats struct {
	out, in, msgsOut atomic.Int64
}

func (p *payloadStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (p *payloadStats) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch s := s.(type) {
	case *stats.OutPayload:
		p.out.Add(int64(s.WireLength))
		p.msgsOut.Add(1)
	case *stats.InPayload:
		p.in.Add(int64(s.WireLength))
	}
}
func (p *payloadStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (p *payloadStats) HandleConn(context.Context, stats.ConnStats) {}
