package etcdsink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	agent "github.com/fleetgate/fleetgate/dataplane-agent"
)

// roleDoc is where an operator finds the etcd role the agent needs.
const roleDoc = `docs/sinks.md, "A role for the agent"`

// access is one key, or every key under a prefix, that a request reads or writes. On a
// "permission denied", the sink probes each access of the failed request to say which.
type access struct {
	key    string
	prefix bool // every key starting with key
	write  bool
}

func readKey(k string) access        { return access{key: k} }
func readPrefix(p string) access     { return access{key: p, prefix: true} }
func writeKey(k string) access       { return access{key: k, write: true} }
func readWriteKey(k string) []access { return []access{readKey(k), writeKey(k)} }

// maxProbes bounds the accesses probed to explain one "permission denied".
const maxProbes = 32

// contentErrors are etcd's refusals of what was sent: the version is NACKed. Every other
// error etcd answers with (authentication, permission, leadership, timeouts, a full
// database, too many requests) says nothing about the content: the sink is unavailable.
var contentErrors = []error{
	rpctypes.ErrEmptyKey, rpctypes.ErrKeyNotFound, rpctypes.ErrValueProvided, rpctypes.ErrLeaseProvided,
	rpctypes.ErrTooManyOps, rpctypes.ErrDuplicateKey, rpctypes.ErrRequestTooLarge,
}

// unavailable reports whether err, returned by an etcd request, says that etcd could not be
// reached, logged in to or written (as opposed to a refusal of the request's content).
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		for _, c := range contentErrors {
			if errors.Is(ee, c) {
				return false
			}
		}
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unauthenticated, codes.PermissionDenied, codes.Aborted:
		return true
	case codes.FailedPrecondition: // grpc: the client connection is closing
		return true
	}
	return false
}

// failed turns the error of an etcd request (doing what) into the sink's error: an
// agent.ErrUnavailable error when etcd could not be reached, logged in to or written, with
// what to do; a plain error (a NACK) when etcd refused the content. For "permission
// denied", it probes needs to say which key and which permission is missing.
func (s *Sink) failed(ctx context.Context, c *clientv3.Client, doing string, err error, needs ...access) error {
	eps := strings.Join(s.cfg.Endpoints, ",")
	switch {
	case !unavailable(err):
		return fmt.Errorf("etcd sink: %s: etcd refused it: %w", doing, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return agent.Unavailable(s.explainDenied(ctx, c, doing, err, needs))
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return agent.Unavailable(fmt.Errorf("etcd sink: %s: etcd at %s requires a login and the agent has no etcd user (%w): give it one, with a role of its own (--etcd-user and --etcd-password-file; %s)",
			doing, eps, err, roleDoc))
	case loginRefused(err):
		return agent.Unavailable(fmt.Errorf("etcd sink: %s: etcd at %s refused the login of user %q (%w): check --etcd-user and its password (--etcd-password-file or FLEETGATE_ETCD_PASSWORD)",
			doing, eps, s.cfg.Username, err))
	case errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded:
		if terr := s.tlsProblem(ctx); terr != nil {
			return agent.Unavailable(fmt.Errorf("etcd sink: %s: cannot connect to etcd at %s: %w (check --etcd-ca-file, --etcd-cert-file/--etcd-key-file and --etcd-sni)", doing, eps, terr))
		}
		return agent.Unavailable(fmt.Errorf("etcd sink: %s: etcd at %s did not answer in time (%w)", doing, eps, err))
	}
	return agent.Unavailable(fmt.Errorf("etcd sink: %s: etcd at %s is unavailable: %w", doing, eps, err))
}

// explainDenied finds, by probing, the first of needs that etcd denies, and says which
// grant is missing. Probes change nothing: a write is probed by a transaction whose
// condition never holds (etcd checks the permissions of both branches anyway).
func (s *Sink) explainDenied(ctx context.Context, c *clientv3.Client, doing string, err error, needs []access) error {
	user := fmt.Sprintf("etcd user %q", s.cfg.Username)
	if s.cfg.Username == "" {
		user = "the agent's etcd user (named by its client certificate)"
	}
	for i, a := range needs {
		if i == maxProbes {
			break
		}
		if !s.denied(ctx, c, a) {
			continue
		}
		verb, what := "read", fmt.Sprintf("%q", a.key)
		if a.write {
			verb = "write"
		}
		if a.prefix {
			what = fmt.Sprintf("the keys under %q", a.key)
		}
		return fmt.Errorf("etcd sink: %s may not %s %s (%w): grant it readwrite on prefix %q (%s)",
			user, verb, what, err, s.grantFor(a.key), roleDoc)
	}
	return fmt.Errorf("etcd sink: %s: %s was denied (%w): grant it readwrite on prefixes %q and %q (%s)",
		doing, user, err, s.cfg.Prefix+"/", s.cfg.AgentPrefix+"/", roleDoc)
}

// grantFor is the prefix whose grant covers key.
func (s *Sink) grantFor(key string) string {
	if strings.HasPrefix(key, s.cfg.AgentPrefix+"/") {
		return s.cfg.AgentPrefix + "/"
	}
	return s.cfg.Prefix + "/"
}

// denied reports whether etcd answers a probe of a with "permission denied".
func (s *Sink) denied(ctx context.Context, c *clientv3.Client, a access) bool {
	tctx, cancel := context.WithTimeout(ctx, min(s.cfg.RequestTimeout, 5*time.Second))
	defer cancel()
	var err error
	switch {
	case a.write:
		_, err = c.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(a.key), "<", 0)).
			Then(clientv3.OpPut(a.key, "")).Commit()
	case a.prefix:
		_, err = c.Get(tctx, a.key, clientv3.WithPrefix(), clientv3.WithCountOnly())
	default:
		_, err = c.Get(tctx, a.key, clientv3.WithCountOnly())
	}
	return errors.Is(err, rpctypes.ErrPermissionDenied)
}
