package snapshot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A YAML syntax error is reported at the line and column of the token at fault, not at the
// line where the enclosing collection starts with column 0 (yaml.v3's own report).
func TestYAMLSyntaxErrorsHaveColumns(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"unclosed flow mapping", "routes:\n  - id: r1\n    uri: /a\n    upstream: {nodes: {\"a:80\": 1}\n  - id: r2\n",
			"y.yaml:5:3: invalid YAML/JSON: ',' or '}' must be specified"},
		{"bad indentation", "routes:\n  - id: r1\n   uri: /a\n",
			"y.yaml:3:4: invalid YAML/JSON: value is not allowed in this context"},
		{"unterminated string", "routes: [{id: r1, uri: \"/a}]\n",
			"y.yaml:1:24: invalid YAML/JSON: could not find end character of double-quoted text"},
		{"tab indentation", "routes:\n\t- id: r1\n",
			"y.yaml:2:1: invalid YAML/JSON: found character a tab (YAML indents with spaces only) that cannot start any token"},
		{"value after a value", "routes:\n  - id: a: b\n",
			"y.yaml:2:9: invalid YAML/JSON: mapping value is not allowed in this context"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build([]Layer{{Files: []File{{Path: "y.yaml", Data: []byte(c.in)}}}}, Options{}, Meta{})
			require.Error(t, err)
			require.Equal(t, c.want, problemText(t, err))
		})
	}
}
