package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/admin"
	"github.com/fleetgate/fleetgate/controlplane/config"
	"github.com/fleetgate/fleetgate/controlplane/discovery"
	"github.com/fleetgate/fleetgate/internal/buildinfo"
	"github.com/fleetgate/fleetgate/internal/tlsfiles"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// grpcServer is the control plane's one gRPC server, before services are registered.
type grpcServer struct {
	*grpc.Server
	metrics *grpcprom.ServerMetrics
	// health is grpc.health.v1.Health: SERVING once the services are registered, NOT_SERVING
	// from the moment the server starts to stop.
	health *health.Server
	// disc, when set, is ended first on stop (its streams are told to reconnect).
	disc *discovery.Server
	// endStreams is called when the server starts to stop: it ends FleetAdmin's streams
	// (status --watch), which would otherwise hold GracefulStop until its timeout.
	endStreams context.CancelFunc
}

// newGRPCServer returns the gRPC server of the control plane with its interceptors, from the
// outside in:
//   - metrics: grpc_server_* counters and a handling-time histogram per method, registered
//     on reg (InitializeMetrics is called by registered, once the services are on it);
//   - FleetAdmin streams (status --watch) end with Unavailable "control plane shutting
//     down" as soon as the server starts to stop (endOnStop), instead of holding its
//     GracefulStop;
//   - logging of FleetAdmin calls when they finish (OK at debug, an operator's mistake at
//     info, a server fault at error); agent streams log their own connects and disconnects;
//   - bearer-token authentication of FleetAdmin (admin.Interceptors);
//   - recovery: a panicking handler ends its own call with Internal and logs the panic with
//     its stack, instead of taking down the process and every agent stream with it.
func newGRPCServer(cfg *config.Config, dopts *discovery.Options, log *slog.Logger, reg prometheus.Registerer) (*grpcServer, error) {
	var opts []grpc.ServerOption
	if cfg.TLS != nil {
		tc, err := tlsfiles.Server(tlsfiles.Files{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, CAFile: cfg.TLS.ClientCAFile})
		if err != nil {
			return nil, fmt.Errorf("tls (cert_file, key_file, client_ca_file): %w", err)
		}
		// Agents must present a certificate (checked by discovery's NodeIdentity); operators
		// may use a bearer token instead.
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
		if cfg.TLS.ClientCAFile != "" {
			dopts.NodeIdentity = certIdentity
		}
	} else {
		log.Warn("gRPC port is plaintext: set tls in the config for production")
	}
	metrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
	if err := reg.Register(metrics); err != nil {
		return nil, fmt.Errorf("register gRPC server metrics: %w", err)
	}
	adminOnly := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service == fleetgatev1.FleetAdmin_ServiceDesc.ServiceName
	})
	lopts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall), logging.WithLevels(codeToLevel)}
	rec := recovery.WithRecoveryHandlerContext(recovered(log))
	stopping, endStreams := context.WithCancel(context.Background())
	opts = append(opts, discovery.ServerOptions(*dopts)...)
	opts = append(opts,
		grpc.ChainUnaryInterceptor(
			serverInfo(),
			metrics.UnaryServerInterceptor(),
			selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(slogAdapter(log), lopts...), adminOnly),
		),
		grpc.ChainStreamInterceptor(
			metrics.StreamServerInterceptor(),
			selector.StreamServerInterceptor(endOnStop(stopping), adminOnly),
			selector.StreamServerInterceptor(logging.StreamServerInterceptor(slogAdapter(log), lopts...), adminOnly),
		),
	)
	opts = append(opts, admin.Interceptors()...)
	opts = append(opts,
		grpc.ChainUnaryInterceptor(recovery.UnaryServerInterceptor(rec)),
		grpc.ChainStreamInterceptor(recovery.StreamServerInterceptor(rec)),
	)
	return &grpcServer{Server: grpc.NewServer(opts...), metrics: metrics, health: health.NewServer(), endStreams: endStreams}, nil
}

// ServerInfoHeader is the response header in which the control plane names its build
// (JSON of buildinfo.Info) on every unary call, health checks included: `fleetgate version`
// reads it.
const ServerInfoHeader = "fleetgate-server-build"

// serverInfo sets ServerInfoHeader on every unary call.
func serverInfo() grpc.UnaryServerInterceptor {
	b, _ := json.Marshal(buildinfo.Get())
	md := metadata.Pairs(ServerInfoHeader, string(b))
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		_ = grpc.SetHeader(ctx, md)
		return handler(ctx, req)
	}
}

// stop ends the agents' streams (discovery.Server.Shutdown: they reconnect at once) and
// the operators' streams, then stops gracefully: calls in flight get grace to finish, and
// are cut off after it.
func (g *grpcServer) stop(grace time.Duration) {
	g.health.Shutdown() // probes see NOT_SERVING while the streams drain
	if g.disc != nil {
		g.disc.Shutdown()
	}
	g.endStreams()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		g.Stop()
		<-stopped
	}
}

// errStopping ends a FleetAdmin stream when the control plane stops.
var errStopping = status.Error(codes.Unavailable, "control plane shutting down; reconnect to another replica or to this one when it is back")

// endOnStop ends a stream when stopping is done: its handler's context is cancelled, and
// the stream ends with Unavailable (not Canceled), so that a client knows to reconnect.
func endOnStop(stopping context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		unhook := context.AfterFunc(stopping, cancel)
		defer unhook()
		err := handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
		if stopping.Err() != nil && ss.Context().Err() == nil {
			if c := status.Code(err); c == codes.OK || c == codes.Canceled {
				return errStopping
			}
		}
		return err
	}
}

// ctxStream is a grpc.ServerStream with another context.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// registered finishes the server once every service is registered: the metrics of every
// method start at zero, so that a rate() over them works from the first scrape, and the
// standard health service (grpc.health.v1, for Kubernetes gRPC probes and load balancers)
// answers SERVING for the server ("") and for each service.
func (g *grpcServer) registered() {
	services := g.GetServiceInfo()
	healthpb.RegisterHealthServer(g.Server, g.health)
	g.metrics.InitializeMetrics(g.Server)
	g.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for name := range services {
		g.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
}

// recovered is the recovery interceptor's handler: it logs the panic with its stack and
// fails the call that panicked.
func recovered(log *slog.Logger) recovery.RecoveryHandlerFuncContext {
	return func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		log.Error("panic in a gRPC handler; that call fails with Internal, the control plane keeps serving",
			"method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return status.Errorf(codes.Internal, "internal error in the control plane serving %s (a panic; its stack is in the control plane's log)", method)
	}
}

// codeToLevel is the log level of a finished FleetAdmin call by its code.
func codeToLevel(c codes.Code) logging.Level {
	switch c {
	case codes.OK:
		return logging.LevelDebug
	case codes.Canceled, codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.Unauthenticated, codes.FailedPrecondition, codes.OutOfRange, codes.ResourceExhausted, codes.DeadlineExceeded:
		return logging.LevelInfo
	default:
		return logging.LevelError
	}
}

// slogAdapter lets go-grpc-middleware's logging interceptor write to log.
func slogAdapter(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// certIdentity is the node id bound to a stream's verified client certificate: its common
// name, else its first DNS name.
func certIdentity(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	leaf := ti.State.VerifiedChains[0][0]
	if leaf.Subject.CommonName != "" {
		return leaf.Subject.CommonName, true
	}
	if len(leaf.DNSNames) > 0 {
		return leaf.DNSNames[0], true
	}
	return "", false
}
