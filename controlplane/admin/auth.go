package admin

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"

	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/fleetgate/fleetgate/controlplane/config"
)

// Token is an accepted bearer token.
type Token struct {
	// Name is who holds it; it is written to the audit log.
	Name string
	Role config.Role
	// Secret is the token itself.
	Secret string
}

type whoKey struct{}

// Caller is an authenticated admin API caller.
type Caller struct {
	Name string
	Role config.Role
}

// CallerFrom returns the caller of ctx (the zero Caller when none was authenticated).
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(whoKey{}).(Caller)
	return c
}

var rank = map[config.Role]int{config.RoleViewer: 1, config.RoleOperator: 2, config.RoleAdmin: 3}

// required is the role each FleetAdmin method needs; methods not listed need admin.
var required = map[string]config.Role{
	"GetStatus": config.RoleViewer, "ListNodes": config.RoleViewer, "ListVersions": config.RoleViewer,
	"GetVersion": config.RoleViewer, "DiffVersions": config.RoleViewer, "ListAudit": config.RoleViewer,
	"WatchFleet": config.RoleViewer, "GetRollout": config.RoleViewer,
	"Pin": config.RoleOperator, "Unpin": config.RoleOperator, "Rollback": config.RoleOperator,
	"Retry": config.RoleOperator, "Sync": config.RoleOperator, "Approve": config.RoleOperator,
	"ForgetNode": config.RoleOperator, "RolloutAction": config.RoleOperator, "Freeze": config.RoleOperator,
	"Unfreeze": config.RoleOperator,
}

// authenticate checks the bearer token of a FleetAdmin call against its method's role.
func (s *Server) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	method := fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	need, ok := required[method]
	if !ok {
		need = config.RoleAdmin
	}
	if len(s.opts.Tokens) == 0 {
		return context.WithValue(ctx, whoKey{}, Caller{Name: anonymousName(ctx), Role: config.RoleAdmin}), nil
	}
	tok, err := grpcauth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token: pass --token-file FILE or set FLEETGATE_TOKEN (tokens are configured under admin.tokens)")
	}
	var found *Token
	for i := range s.opts.Tokens {
		// compare with every token, in constant time each
		if subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Tokens[i].Secret)) == 1 {
			found = &s.opts.Tokens[i]
		}
	}
	if found == nil {
		return nil, status.Error(codes.Unauthenticated, "unknown bearer token: check --token-file against admin.tokens in the control plane config")
	}
	if rank[found.Role] < rank[need] {
		return nil, status.Errorf(codes.PermissionDenied, "%s has role %s; %s needs %s", found.Name, found.Role, method, need)
	}
	return context.WithValue(ctx, whoKey{}, Caller{Name: found.Name, Role: found.Role}), nil
}

// anonymousName names an unauthenticated caller: its client certificate's common name when
// it has one, else "anonymous@<address>".
func anonymousName(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "anonymous"
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
		return ti.State.VerifiedChains[0][0].Subject.CommonName
	}
	if p.Addr != nil {
		host := p.Addr.String()
		if i := strings.LastIndex(host, ":"); i > 0 {
			host = host[:i]
		}
		return fmt.Sprintf("anonymous@%s", host)
	}
	return "anonymous"
}

// AuthFuncOverride makes the auth interceptors apply role checks to FleetAdmin only.
func (s *Server) AuthFuncOverride(ctx context.Context, fullMethod string) (context.Context, error) {
	return s.authenticate(ctx, fullMethod)
}

func passthrough(ctx context.Context) (context.Context, error) { return ctx, nil }

// Interceptors returns the server options that authenticate FleetAdmin calls by bearer token
// (go-grpc-middleware auth). Other services on the same grpc.Server (ConfigDiscovery) pass
// through untouched.
func Interceptors() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(grpcauth.UnaryServerInterceptor(passthrough)),
		grpc.ChainStreamInterceptor(grpcauth.StreamServerInterceptor(passthrough)),
	}
}
