package gitsource

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// check returns the commit's facts and, when signatures are required and the commit does not
// carry a valid one from the keyring, the reason it is rejected ("" when accepted) and a
// short code for it (Observer.Rejected).
func (s *Source) check(c *object.Commit) (rev Revision, reason, code string) {
	rev = revision(c)
	if s.cfg.SigningKeys == "" {
		return rev, "", ""
	}
	short := rev.Commit[:12]
	sig := strings.TrimSpace(c.PGPSignature)
	if sig == "" {
		return rev, fmt.Sprintf("commit %s is not signed; signatures from the configured keyring are required", short), "unsigned"
	}
	if !strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----") {
		return rev, fmt.Sprintf("commit %s carries a signature that is not OpenPGP (ssh or x509 signing is not supported)", short), "not_openpgp"
	}
	e, err := c.Verify(s.cfg.SigningKeys)
	if err != nil {
		issuer := signatureIssuer(sig)
		if issuer == "" {
			issuer = "an unknown key"
		} else {
			issuer = "key " + issuer
		}
		return rev, fmt.Sprintf("commit %s is signed by %s, which does not verify against the configured keyring: %v", short, issuer, err), "unverified"
	}
	rev.SignedBy = strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	return rev, "", ""
}

// signatureIssuer returns the fingerprint or key id of an armored signature's issuer.
func signatureIssuer(armored string) string {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return ""
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return ""
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return ""
	}
	if len(sig.IssuerFingerprint) > 0 {
		return strings.ToUpper(hex.EncodeToString(sig.IssuerFingerprint))
	}
	if sig.IssuerKeyId != nil {
		return fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	return ""
}
