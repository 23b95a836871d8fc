package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The CLI's exit codes (README: "Exit codes"). Scripts can tell a finding from a failure,
// and a failure of the control plane from one of the request.
const (
	codeOK          = 0 // done
	codeError       = 1 // anything else: invalid input, invalid config, a NACK, a server error
	codeDiff        = 2 // diff found differences
	codeUnreachable = 3 // the control plane could not be reached
	codeNotFound    = 4 // no such group, version, node or source
	codeDenied      = 5 // unauthenticated or permission denied
	codeTimeout     = 6 // --timeout passed (wait, or a call that got no answer)
)

// exitCode maps an error to the exit code.
func exitCode(err error) int {
	if err == nil {
		return codeOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return codeTimeout
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable:
			return codeUnreachable
		case codes.NotFound:
			return codeNotFound
		case codes.Unauthenticated, codes.PermissionDenied:
			return codeDenied
		case codes.DeadlineExceeded:
			return codeTimeout
		}
	}
	return codeError
}

// reasons are the short words of the exit codes, in JSON errors.
var reasons = map[int]string{codeError: "error", codeDiff: "diff", codeUnreachable: "unreachable", codeNotFound: "not_found",
	codeDenied: "denied", codeTimeout: "timeout"}

// execute runs the CLI with args and returns its exit code, having written the error (as
// JSON when the verb was asked for -o json) to stderr.
func execute(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return codeOK
	}
	code := exitCode(err)
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return code // the verb printed what there was to say (diff, validate)
	}
	if wantsJSON(cmd) {
		b, _ := json.MarshalIndent(map[string]any{"error": map[string]any{
			"message": grpcMessage(err), "code": code, "reason": reasons[code]}}, "", "  ")
		fmt.Fprintln(stderr, string(b))
		return code
	}
	fmt.Fprintln(stderr, "fleetgate:", grpcMessage(err))
	return code
}

// grpcMessage is the error's text with grpc-go's "rpc error: code = NotFound desc = "
// wrapping turned into words ("not found: ").
func grpcMessage(err error) string {
	msg := err.Error()
	i := strings.Index(msg, "rpc error: code = ")
	if i < 0 {
		return msg
	}
	rest := msg[i+len("rpc error: code = "):]
	name, desc, ok := strings.Cut(rest, " desc = ")
	if !ok {
		return msg
	}
	return msg[:i] + codeWords(name) + ": " + desc
}

// codeWords turns a gRPC code name into lower-case words: "PermissionDenied" → "permission denied".
func codeWords(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte(' ')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// wantsJSON reports whether the verb that ran was asked for -o json.
func wantsJSON(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	f := cmd.Flags().Lookup("output")
	return f != nil && f.Value.String() == "json"
}
