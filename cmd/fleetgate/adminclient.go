package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/fleetgate/fleetgate/internal/tlsfiles"
	fleetgatev1 "github.com/fleetgate/fleetgate/proto/fleetgate/v1"
)

// adminFlags are the connection flags every operator verb takes.
type adminFlags struct {
	server    string
	tokenFile string
	caFile    string
	certFile  string
	keyFile   string
	plaintext bool
	output    string
	timeout   time.Duration
	// envErr is a FLEETGATE_* environment variable that could not be read, reported when
	// the verb runs.
	envErr error
	// ctxState is --context and what the CLI config file's context filled in (contexts.go).
	ctxState contextState
}

// addAdminFlags registers the connection and output flags on an operator verb.
func addAdminFlags(cmd *cobra.Command) *adminFlags {
	f := &adminFlags{}
	fs := cmd.Flags()
	fs.StringVar(&f.server, "server", envOr("FLEETGATE_SERVER", "localhost:18000"), "control plane gRPC address (env FLEETGATE_SERVER; else the context's server)")
	fs.StringVar(&f.tokenFile, "token-file", os.Getenv("FLEETGATE_TOKEN_FILE"), "file holding the admin bearer token (env FLEETGATE_TOKEN_FILE; or put the token itself in FLEETGATE_TOKEN)")
	fs.StringVar(&f.caFile, "ca-file", os.Getenv("FLEETGATE_CA_FILE"), "CA bundle to verify the control plane's TLS certificate (env FLEETGATE_CA_FILE; default: the system roots)")
	fs.StringVar(&f.certFile, "cert-file", os.Getenv("FLEETGATE_CERT_FILE"), "client certificate for mutual TLS (env FLEETGATE_CERT_FILE)")
	fs.StringVar(&f.keyFile, "key-file", os.Getenv("FLEETGATE_KEY_FILE"), "client key for mutual TLS (env FLEETGATE_KEY_FILE)")
	plaintext, err := envBool("FLEETGATE_PLAINTEXT")
	f.envErr = err
	fs.BoolVar(&f.plaintext, "plaintext", plaintext, "connect without TLS (env FLEETGATE_PLAINTEXT); the default is plaintext to a loopback address and TLS to any other, and a token is never sent in plaintext to a non-loopback address")
	fs.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the control plane")
	f.registerContextFlag(cmd)
	return f
}

// envBool reads a boolean environment variable (false when unset or empty).
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// maxRecvBytes is the largest admin API answer the CLI accepts: above the control plane's
// largest max_message_bytes default (config.DefaultMaxMessageBytes, 64 MiB).
const maxRecvBytes = 256 << 20

// dial connects to the control plane's admin API, secured as connSecurity.tlsConfig says,
// and refuses to go on in plaintext to a non-loopback address when a token would be sent.
func (f *adminFlags) dial() (*grpc.ClientConn, error) {
	if f.envErr != nil {
		return nil, f.envErr
	}
	if err := f.applyContext(); err != nil {
		return nil, err
	}
	s := connSecurity{plaintext: f.plaintext, caFile: f.caFile, certFile: f.certFile, keyFile: f.keyFile}
	cfg, err := s.tlsConfig([]string{f.server})
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if cfg != nil {
		creds = credentials.NewTLS(cfg)
	} else if !isLoopback(f.server) {
		tok, err := f.token()
		if err != nil {
			return nil, err
		}
		if tok != "" {
			return nil, fmt.Errorf("refusing to send the admin token in plaintext to %s, which is not a loopback address: "+
				"drop --plaintext (or unset FLEETGATE_PLAINTEXT) to use TLS, adding --ca-file FILE when the control plane's certificate "+
				"is not signed by a CA in the system roots", f.server)
		}
	}
	// Accept whatever the control plane may send (its max_message_bytes, 64 MiB by default;
	// gRPC's default of 4 MiB would make `show` fail for a large version).
	conn, err := grpc.NewClient(f.server, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)))
	if err != nil {
		return nil, fmt.Errorf("connect to control plane %s: %w", f.server, err)
	}
	return conn, nil
}

// clientTLS builds the TLS configuration of a connection to the control plane from the
// --ca-file (the system roots when empty), --cert-file and --key-file flags; errors name the
// flag at fault.
func clientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	var pool *x509.CertPool
	if caFile != "" {
		p, err := tlsfiles.Pool(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool = p
	}
	cfg, err := tlsfiles.Client(tlsfiles.Files{CertFile: certFile, KeyFile: keyFile}, serverName)
	if err != nil {
		return nil, fmt.Errorf("--cert-file/--key-file: %w", err)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// tlsHint adds what to do to a connection error caused by the TLS choice: a control plane
// that does not speak TLS, or a certificate the system roots do not know.
func (f *adminFlags) tlsHint(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return fmt.Errorf("%w (the control plane at %s does not speak TLS, which the CLI uses for a non-loopback address and "+
			"whenever --ca-file or --cert-file is given: give the control plane a tls: section, or pass --plaintext when no token "+
			"is needed, as a token is never sent in plaintext to a non-loopback address)", err, f.server)
	case strings.Contains(msg, "certificate signed by unknown authority") && f.caFile == "":
		return fmt.Errorf("%w (the control plane's certificate is not signed by a CA in the system roots: give --ca-file FILE)", err)
	}
	return err
}

// token returns the bearer token from --token-file, FLEETGATE_TOKEN, or the context's
// token_file or token ("" if none).
func (f *adminFlags) token() (string, error) {
	if err := f.applyContext(); err != nil {
		return "", err
	}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", f.ctxState.tokenFileSource(), err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if tok := os.Getenv("FLEETGATE_TOKEN"); tok != "" {
		return tok, nil
	}
	return f.ctxState.token, nil
}

// context returns a context with the timeout and the bearer token attached.
func (f *adminFlags) context(parent context.Context, stream bool) (context.Context, context.CancelFunc, error) {
	tok, err := f.token()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := parent, context.CancelFunc(func() {})
	if !stream {
		ctx, cancel = context.WithTimeout(parent, f.timeout)
	}
	if tok != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	return ctx, cancel, nil
}

// runAdmin dials the control plane and calls fn with a FleetAdmin client and a context that
// carries the timeout and token. Errors name the server so an operator knows what failed.
func (f *adminFlags) runAdmin(cmd *cobra.Command, fn func(ctx context.Context, c fleetgatev1.FleetAdminClient) error) error {
	return f.runAdminCtx(cmd, false, fn)
}

// runAdminStream is runAdmin without a timeout, for streaming calls (status --watch).
func (f *adminFlags) runAdminStream(cmd *cobra.Command, fn func(ctx context.Context, c fleetgatev1.FleetAdminClient) error) error {
	return f.runAdminCtx(cmd, true, fn)
}

func (f *adminFlags) runAdminCtx(cmd *cobra.Command, stream bool, fn func(ctx context.Context, c fleetgatev1.FleetAdminClient) error) error {
	if err := f.checkOutput(); err != nil {
		return err
	}
	conn, err := f.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel, err := f.context(cmd.Context(), stream)
	if err != nil {
		return err
	}
	defer cancel()
	if err := fn(ctx, fleetgatev1.NewFleetAdminClient(conn)); err != nil {
		return f.tlsHint(connHint(f.server, fmt.Errorf("control plane %s: %w", f.server, err)))
	}
	return nil
}

// connHint says what was tried and what to do when the control plane could not be reached
// (exit code 3), in place of grpc-go's transport error.
func connHint(server string, err error) error {
	if exitCode(err) != codeUnreachable {
		return err
	}
	msg := err.Error()
	if strings.Contains(msg, "handshake failed") || strings.Contains(msg, "x509:") {
		// reached, but the TLS settings do not match: an error to fix (tlsHint says how)
		return &exitError{code: codeError, err: err}
	}
	var why, hint string
	switch {
	case strings.Contains(msg, "frame too large"), strings.Contains(msg, "server preface"), strings.Contains(msg, "malformed HTTP"):
		why = "it answers, but not with gRPC"
		hint = "is it the control plane's HTTP port (18080 by default)? --server (env FLEETGATE_SERVER) takes the gRPC port, 18000 by default"
	case strings.Contains(msg, "connection refused"):
		why = "connection refused"
		hint = "is the control plane running, and listening there? --server (env FLEETGATE_SERVER) takes its gRPC address (listen.grpc, port 18000 by default)"
	case strings.Contains(msg, "name resolver"), strings.Contains(msg, "no such host"):
		why = "the host name does not resolve"
		hint = "check --server (env FLEETGATE_SERVER)"
	case strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "deadline"):
		why = "no answer within --timeout"
		hint = "check the address and the firewall, or raise --timeout"
	default:
		return &exitError{code: codeUnreachable, err: fmt.Errorf("%w (check --server, env FLEETGATE_SERVER: the gRPC port, 18000 by default)", err)}
	}
	return &exitError{code: codeUnreachable, err: fmt.Errorf("cannot reach the control plane at %s (tried gRPC): %s; %s", server, why, hint)}
}
