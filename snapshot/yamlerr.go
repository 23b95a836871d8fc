package snapshot

import (
	"errors"
	"strings"

	goccy "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// locateSyntaxError finds where a document yaml.v3 refused is broken. yaml.v3's errors give
// only a line, often the line where the enclosing block or flow collection starts, not where
// the problem is; goccy/go-yaml's parser reports the token at fault with its line and column.
// It is used only on this error path: yaml.v3 (and fastyaml) stay the parsers that decide
// what a config means. ok is false when goccy finds no syntax error to point at.
func locateSyntaxError(data []byte) (line, col int, msg string, ok bool) {
	_, err := parser.ParseBytes(data, 0)
	var se *goccy.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil || se.Token.Position.Line < 1 {
		return 0, 0, "", false
	}
	msg = strings.ReplaceAll(se.Message, "'\t'", "a tab (YAML indents with spaces only)")
	return se.Token.Position.Line, se.Token.Position.Column, msg, true
}
