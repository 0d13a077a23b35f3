package share

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Job is one unit of work derived from a block template, shared read-only by
// every session and both protocols once it is published. Fields must not be
// modified after the job is handed to a Validator.
type Job struct {
	// ID is unique among live jobs of one pool process.
	ID uint32
	// Height is the height of the block this job would create.
	Height int64
	// PrevHash is the previous block hash in internal (header) byte order.
	PrevHash [32]byte
	// Version is the template's block version before any version rolling.
	Version uint32
	// Bits is the compact network target; NetworkTarget its expansion.
	Bits          uint32
	NetworkTarget Target
	// MinTime is the earliest ntime the node accepts; CurTime the template's time.
	MinTime uint32
	CurTime uint32

	// CoinbasePrefix and CoinbaseSuffix are the non-witness (txid) serialization
	// of the coinbase transaction around its extranonce area, which is
	// ExtranonceSize bytes long and sits at the end of the scriptSig.
	CoinbasePrefix []byte
	CoinbaseSuffix []byte
	ExtranonceSize int
	// CoinbaseValue is the total of the coinbase outputs in satoshis.
	CoinbaseValue int64
	// Witness is true when the coinbase carries a witness commitment, so the
	// block's coinbase must carry the 32-byte witness reserved value.
	Witness bool

	// MerkleBranch is the coinbase's merkle path, internal byte order.
	MerkleBranch [][32]byte
	// Transactions are the template's non-coinbase transactions in full
	// (witness) serialization, in block order, with their txids.
	Transactions [][]byte
	TxIDs        [][32]byte

	// Clean is true when the job starts a new chain tip: earlier work is stale.
	Clean bool
	// Created is when the pool built the job.
	Created time.Time
}

// Coinbase returns the non-witness coinbase transaction for a full extranonce.
func (j *Job) Coinbase(extranonce []byte) []byte {
	cb := make([]byte, 0, len(j.CoinbasePrefix)+len(extranonce)+len(j.CoinbaseSuffix))
	cb = append(cb, j.CoinbasePrefix...)
	cb = append(cb, extranonce...)
	return append(cb, j.CoinbaseSuffix...)
}

// witnessCoinbase converts a non-witness coinbase to its witness serialization
// with the 32-byte all-zero witness reserved value (BIP141).
func witnessCoinbase(cb []byte) []byte {
	out := make([]byte, 0, len(cb)+2+34)
	out = append(out, cb[:4]...)
	out = append(out, 0x00, 0x01) // marker, flag
	out = append(out, cb[4:len(cb)-4]...)
	out = append(out, 0x01, 0x20) // one stack item of 32 bytes
	out = append(out, make([]byte, 32)...)
	return append(out, cb[len(cb)-4:]...)
}

// Block serializes the full block for a solved header and full extranonce.
func (j *Job) Block(header *Header, extranonce []byte) []byte {
	cb := j.Coinbase(extranonce)
	if j.Witness {
		cb = witnessCoinbase(cb)
	}
	size := 80 + 9 + len(cb)
	for _, tx := range j.Transactions {
		size += len(tx)
	}
	var buf bytes.Buffer
	buf.Grow(size)
	buf.Write(header[:])
	buf.Write(appendVarInt(nil, uint64(len(j.Transactions)+1)))
	buf.Write(cb)
	for _, tx := range j.Transactions {
		buf.Write(tx)
	}
	return buf.Bytes()
}

// Validate checks the job's internal consistency; templates builders call it
// before publishing.
func (j *Job) Validate() error {
	switch {
	case len(j.CoinbasePrefix) < 4+1+36+1:
		return errors.New("share: coinbase prefix too short")
	case len(j.CoinbaseSuffix) < 4+4+1:
		return errors.New("share: coinbase suffix too short")
	case j.ExtranonceSize < 1 || j.ExtranonceSize > 32:
		return fmt.Errorf("share: extranonce size %d out of range", j.ExtranonceSize)
	case len(j.Transactions) != len(j.TxIDs):
		return errors.New("share: transactions and txids differ in length")
	}
	return nil
}

func appendVarInt(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
	}
}
