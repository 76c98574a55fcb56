package repo

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Signer signs APT Release files with an OpenPGP private key, in Go (no
// gpg-agent, no keyring on disk).
type Signer struct {
	entity *openpgp.Entity
}

// NewSigner reads an ASCII-armored private key (as `gpg --armor
// --export-secret-keys` writes it) and unlocks it with passphrase when it
// is protected.
func NewSigner(armored, passphrase string) (*Signer, error) {
	keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("read the signing key: %w (want an ASCII-armored private key, as `gpg --armor --export-secret-keys KEYID` prints)", err)
	}
	for _, e := range keys {
		if e.PrivateKey == nil {
			continue
		}
		if e.PrivateKey.Encrypted {
			if passphrase == "" {
				return nil, errors.New("the signing key is protected by a passphrase and none is configured (build.apt.sign.passphrase_env)")
			}
			if err := e.DecryptPrivateKeys([]byte(passphrase)); err != nil {
				return nil, fmt.Errorf("unlock the signing key: %w", err)
			}
		}
		return &Signer{entity: e}, nil
	}
	return nil, errors.New("the signing key holds no private key: export it with `gpg --armor --export-secret-keys KEYID`")
}

// KeyID is the signing key's long id, for the log.
func (s *Signer) KeyID() string { return s.entity.PrimaryKey.KeyIdString() }

// PublicKey returns the armored public key, to publish next to the repo.
func (s *Signer) PublicKey() ([]byte, error) {
	var b bytes.Buffer
	w, err := armorEncode(&b)
	if err != nil {
		return nil, err
	}
	if err := s.entity.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Sign returns the clear-signed InRelease and the detached armored
// Release.gpg for release. The signature time is date (the commit time)
// unless the key is younger, so the signature never predates its key.
func (s *Signer) Sign(release []byte, date time.Time) (inRelease, detached []byte, err error) {
	when := date
	if ct := s.entity.PrimaryKey.CreationTime; ct.After(when) {
		when = ct
	}
	// go-crypto salts each signature with a random notation (it protects
	// ed25519 keys against fault attacks): the Release is reproducible,
	// its signatures are not, and nothing needs them to be.
	cfg := &packet.Config{DefaultHash: crypto.SHA256, Time: func() time.Time { return when }}
	key, ok := s.entity.SigningKey(when)
	if !ok {
		return nil, nil, fmt.Errorf("key %s has no valid signing key at %s", s.KeyID(), when.UTC().Format(time.RFC3339))
	}
	var in bytes.Buffer
	w, err := clearsign.Encode(&in, key.PrivateKey, cfg)
	if err != nil {
		return nil, nil, err
	}
	if _, err := w.Write(release); err != nil {
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	var det bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&det, s.entity, bytes.NewReader(release), cfg); err != nil {
		return nil, nil, err
	}
	return in.Bytes(), det.Bytes(), nil
}
