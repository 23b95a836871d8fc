package gitsource

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// authMethod builds the transport credentials for one fetch. It reads secrets fresh from their
// files or variables, so a rotated token is used without a restart. The result's String never
// shows the secret (go-git masks it), and errors name the file or variable, never its content.
func (c *Config) authMethod() (transport.AuthMethod, error) {
	a := c.Auth
	if isSSH(c.URL) {
		return c.sshAuth()
	}
	if a.PasswordFile == "" && a.PasswordEnv == "" {
		if a.Username != "" {
			return &githttp.BasicAuth{Username: a.Username}, nil
		}
		return nil, nil
	}
	pw, err := readSecret(a.PasswordFile, a.PasswordEnv)
	if err != nil {
		return nil, fmt.Errorf("https password: %w", err)
	}
	user := a.Username
	if user == "" {
		user = "git"
	}
	return &githttp.BasicAuth{Username: user, Password: pw}, nil
}

func (c *Config) sshAuth() (transport.AuthMethod, error) {
	a := c.Auth
	ep, err := transport.NewEndpoint(c.URL)
	if err != nil {
		return nil, fmt.Errorf("parse ssh url %q: %w", redactURL(c.URL), err)
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	var helper gitssh.HostKeyCallbackHelper
	if a.InsecureSkipHostKeyCheck {
		helper.HostKeyCallback = gossh.InsecureIgnoreHostKey() // #nosec G106 -- explicit, loudly logged option
	} else {
		var files []string
		if a.KnownHostsFile != "" {
			files = []string{a.KnownHostsFile}
		}
		db, err := gitssh.NewKnownHostsDb(files...)
		if err != nil {
			return nil, fmt.Errorf("ssh known_hosts %q: %w", a.KnownHostsFile, err)
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		helper.HostKeyCallback = db.HostKeyCallback()
		helper.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	}
	if a.SSHKeyFile == "" {
		am, err := gitssh.NewSSHAgentAuth(user)
		if err != nil {
			return nil, fmt.Errorf("ssh: no ssh_key_file configured and no ssh-agent: %w", err)
		}
		am.HostKeyCallbackHelper = helper
		return am, nil
	}
	var pass string
	if a.SSHPassphraseFile != "" {
		if pass, err = readSecret(a.SSHPassphraseFile, ""); err != nil {
			return nil, fmt.Errorf("ssh key passphrase: %w", err)
		}
	}
	am, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, pass)
	if err != nil {
		if a.SSHPassphraseFile == "" {
			return nil, fmt.Errorf("ssh private key %s (if it is encrypted, set ssh_passphrase_file): %w", a.SSHKeyFile, err)
		}
		return nil, fmt.Errorf("ssh private key %s: %w", a.SSHKeyFile, err)
	}
	am.HostKeyCallbackHelper = helper
	return am, nil
}

// readSecret reads a secret from file (preferred) or environment variable env.
func readSecret(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return s, nil
	}
	s := strings.TrimSpace(os.Getenv(env))
	if s == "" {
		return "", fmt.Errorf("environment variable %s is empty or unset", env)
	}
	return s, nil
}
