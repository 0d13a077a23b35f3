package payout

import (
	"encoding/hex"
	"os"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// Key is the pool's signing key: the P2WPKH key its coinbases pay and its
// payouts spend from. Its String and GoString print the address only; the
// private key is never formatted.
type Key struct {
	priv     *btcec.PrivateKey
	addr     *btcutil.AddressWitnessPubKeyHash
	pkScript []byte
}

// LoadKey reads the pool key from path: a WIF (compressed) or 64 hex digits,
// optionally surrounded by whitespace. The file must be a regular file not
// readable or writable by group or others (0600 or stricter); anything else
// is refused with a *KeyFileError. A WIF must be for params' network.
func LoadKey(path string, params *chaincfg.Params) (*Key, error) {
	if params == nil {
		return nil, &ConfigError{"network", "is not set"}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, &KeyFileError{Path: path, Reason: "cannot stat", Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &KeyFileError{Path: path, Reason: "not a regular file"}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &KeyFileError{Path: path, Reason: "permissions " + perm.String() + " allow group or others: chmod 600 it"}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &KeyFileError{Path: path, Reason: "cannot read", Err: err}
	}
	text := strings.TrimSpace(string(raw))
	var priv *btcec.PrivateKey
	if b, herr := hex.DecodeString(text); herr == nil && len(b) == 32 {
		priv, _ = btcec.PrivKeyFromBytes(b)
	} else {
		wif, werr := btcutil.DecodeWIF(text)
		if werr != nil {
			// Never include the file's content in the error.
			return nil, &KeyFileError{Path: path, Reason: "neither a WIF nor 64 hex digits"}
		}
		if !wif.IsForNet(params) {
			return nil, &KeyFileError{Path: path, Reason: "WIF is for another network than " + params.Name}
		}
		if !wif.CompressPubKey {
			return nil, &KeyFileError{Path: path, Reason: "WIF is for an uncompressed key (P2WPKH needs a compressed one)"}
		}
		priv = wif.PrivKey
	}
	return NewKey(priv, params)
}

// NewKey wraps a private key for params' network.
func NewKey(priv *btcec.PrivateKey, params *chaincfg.Params) (*Key, error) {
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(priv.PubKey().SerializeCompressed()), params)
	if err != nil {
		return nil, err
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	return &Key{priv: priv, addr: addr, pkScript: script}, nil
}

// Address is the key's P2WPKH address: configure it as the pool's coinbase
// address.
func (k *Key) Address() string { return k.addr.EncodeAddress() }

// PkScript is the key's P2WPKH output script (TrackerConfig.PoolScript).
func (k *Key) PkScript() []byte { return append([]byte(nil), k.pkScript...) }

// String prints the address only.
func (k *Key) String() string { return "payout key " + k.Address() }

// GoString prints the address only.
func (k *Key) GoString() string { return k.String() }
