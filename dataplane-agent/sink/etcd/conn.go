package etcdsink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
	"github.com/fleetgate/fleetgate/internal/backoff"
)

// Reconnecting. etcd is usually on the same machine as the agent: once it answers, the sink
// must notice within about a second, whatever the length of the outage.
const (
	// redialMax bounds gRPC's delay between two attempts to open a connection to etcd
	// (gRPC's default grows to two minutes).
	redialMax = time.Second
	// retryMax bounds the delay between two attempts of the connect loop after etcd did not
	// answer; loginRetryMin and loginRetryMax bound it after etcd refused the credentials
	// (each login costs etcd a bcrypt comparison, so a wrong password is not hammered).
	retryMax      = time.Second
	loginRetryMin = 2 * time.Second
	loginRetryMax = 30 * time.Second
)

// connectLoop connects to etcd (and logs in), retrying until it succeeds or ctx is done.
// It logs a failure when its reason changes, not every attempt.
func (s *Sink) connectLoop(ctx context.Context) {
	defer close(s.done)
	quick := backoff.Backoff{Min: 100 * time.Millisecond, Max: retryMax, Jitter: 0.2}
	login := backoff.Backoff{Min: loginRetryMin, Max: loginRetryMax, Jitter: 0.2}
	first, lastMsg := true, ""
	for {
		s.connectAttempts.Add(1)
		err := s.connect(ctx)
		if first {
			close(s.tried)
			first = false
		}
		if err == nil {
			if lastMsg != "" {
				s.log.Info("connected to etcd", "endpoints", s.cfg.Endpoints)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if msg := err.Error(); msg != lastMsg {
			s.log.Warn("cannot connect to etcd; retrying in the background", "endpoints", s.cfg.Endpoints, "err", err)
			lastMsg = msg
		}
		delay := quick.Next()
		if loginRefused(err) {
			delay = login.Next()
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.kick:
			t.Stop()
		}
	}
}

// connect makes one attempt to connect to etcd. Without a user name the client connects
// lazily and this cannot fail; with one, clientv3.New logs in and fails when etcd does not
// answer within DialTimeout or refuses the credentials.
func (s *Sink) connect(ctx context.Context) error {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            s.cfg.Endpoints,
		DialTimeout:          s.cfg.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		TLS:                  s.cfg.TLS,
		Username:             s.cfg.Username,
		Password:             s.cfg.Password,
		Context:              ctx,
		Logger:               zap.NewNop(),
		// APISIX values and our transactions stay under etcd's 1.5 MiB request limit; reads
		// of a large prefix may be bigger.
		MaxCallRecvMsgSize: 256 << 20,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: redialMax},
			MinConnectTimeout: 5 * time.Second,
		})},
	})
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if err != nil {
		s.connErr = s.describeConnect(err)
		return s.connErr
	}
	if ctx.Err() != nil { // closed meanwhile
		c.Close()
		return ctx.Err()
	}
	s.client, s.connErr = c, nil
	return nil
}

// describeConnect turns a failure of clientv3.New into what an operator does about it.
func (s *Sink) describeConnect(err error) error {
	eps := strings.Join(s.cfg.Endpoints, ",")
	switch {
	case loginRefused(err):
		return fmt.Errorf("etcd sink: etcd at %s refused the login of user %q (authentication failed: %w): check the user (--etcd-user) and its password (--etcd-password-file or FLEETGATE_ETCD_PASSWORD)",
			eps, s.cfg.Username, err)
	case errors.Is(err, context.DeadlineExceeded):
		if terr := s.tlsProblem(s.bg); terr != nil {
			return fmt.Errorf("etcd sink: cannot connect to etcd at %s: %w (check --etcd-ca-file, --etcd-cert-file/--etcd-key-file and --etcd-sni)", eps, terr)
		}
		return fmt.Errorf("etcd sink: cannot connect to etcd at %s to log in as %q: no answer within %s (%w)", eps, s.cfg.Username, s.cfg.DialTimeout, err)
	}
	return fmt.Errorf("etcd sink: cannot connect to etcd at %s: %w", eps, err)
}

// loginRefused reports whether err is etcd refusing a user name and password.
func loginRefused(err error) bool {
	return errors.Is(err, rpctypes.ErrAuthFailed) || strings.Contains(err.Error(), rpctypes.ErrAuthFailed.Error())
}

// cli returns the etcd client, or an agent.ErrUnavailable error while the sink is not
// connected (it waits for the first attempt to connect, within ctx).
func (s *Sink) cli(ctx context.Context) (*clientv3.Client, error) {
	select {
	case <-s.tried:
	case <-ctx.Done():
		return nil, agent.Unavailable(fmt.Errorf("etcd sink: still connecting to etcd at %s: %w", strings.Join(s.cfg.Endpoints, ","), ctx.Err()))
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	if !loginRefused(s.connErr) { // a refused login waits for its backoff: each costs etcd a bcrypt
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil, agent.Unavailable(s.connErr)
}

// tlsProblem tries a TLS handshake with each https:// endpoint and returns the first
// failure: gRPC reports a refused certificate as a mere timeout, which tells an operator
// nothing. Nil when every handshake succeeds or no endpoint uses TLS.
func (s *Sink) tlsProblem(ctx context.Context) error {
	for _, ep := range s.cfg.Endpoints {
		hostport, ok := strings.CutPrefix(ep, "https://")
		if !ok {
			continue
		}
		hostport, _, _ = strings.Cut(hostport, "/")
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.cfg.TLS != nil {
			cfg = s.cfg.TLS.Clone()
		}
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(hostport)
			if err != nil {
				host = hostport
			}
			cfg.ServerName = host
		}
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := d.DialContext(dctx, "tcp", hostport)
		cancel()
		if err != nil {
			var opErr *net.OpError
			var netErr net.Error
			if (errors.As(err, &opErr) && opErr.Op == "dial") || (errors.As(err, &netErr) && netErr.Timeout()) ||
				errors.Is(err, context.DeadlineExceeded) {
				continue // not a TLS problem: nothing listens, or nothing answers (a hung etcd)
			}
			return fmt.Errorf("TLS handshake with %s failed: %w", hostport, err)
		}
		conn.Close()
	}
	return nil
}
