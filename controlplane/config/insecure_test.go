package config

import (
	"strings"
	"testing"
)

// TestPasswordOverPlainHTTP (issue 11 §7): credentials over an http:// url are a config error
// naming the source and the key, unless the source says allow_insecure_http.
func TestPasswordOverPlainHTTP(t *testing.T) {
	const base = `data_dir: /var/lib/fleetgate
sources:
  - name: gitops
    url: %URL%
    auth: {username: fleet, %KEY%: %VAL%}
%ALLOW%groups:
  - name: production
    source: gitops
    paths: [production]
`
	for _, tc := range []struct {
		name, url, key, val, allow string
		want                       string // "" when accepted
	}{
		{"http password_file", "http://git.internal/gw.git", "password_file", "/etc/token", "", `cp.yaml:5: sources[0].auth.password_file: the password of source "gitops" would be sent in cleartext over plain http://`},
		{"http password_env", "HTTP://git.internal/gw.git", "password_env", "GIT_TOKEN", "", `cp.yaml:5: sources[0].auth.password_env: the password of source "gitops" would be sent in cleartext over plain http://`},
		{"http allowed", "http://git.internal/gw.git", "password_file", "/etc/token", "    allow_insecure_http: true\n", ""},
		{"https", "https://git.internal/gw.git", "password_file", "/etc/token", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.NewReplacer("%URL%", tc.url, "%KEY%", tc.key, "%VAL%", tc.val, "%ALLOW%", tc.allow).Replace(base)
			c, err := Parse("cp.yaml", []byte(y))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.allow != "" && !c.Sources[0].AllowInsecureHTTP {
					t.Fatal("allow_insecure_http not read")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "allow_insecure_http") {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
