package pool

import (
	"fmt"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/jd"
)

// customJobs implements sv2.CustomJobs over the pool's Job Declaration
// Server: a SetCustomMiningJob is checked against the declaration its
// token names and becomes a share.Job with the pool's job ids, the declared
// transactions (so a block found on it can be assembled and submitted by
// the pool) and Declared set.
type customJobs struct {
	jds        *jd.Server
	poolScript []byte
	ids        *share.JobIDs
	now        func() time.Time
}

var _ sv2.CustomJobs = (*customJobs)(nil)

// CustomJob consumes the token (any attempt burns it), checks every field
// against the declaration in the reference order (jd.CheckCustomJob, the
// payout included) and builds the job.
func (c *customJobs) CustomJob(user string, extranonceSize int, m *codec.SetCustomMiningJob) (*share.Job, string, string) {
	d, err := c.jds.Activate(m.MiningJobToken, user)
	if err != nil {
		return nil, jd.ErrorCode(err), err.Error()
	}
	if code, details := jd.CheckCustomJob(d, m, c.poolScript); code != "" {
		return nil, code, details
	}
	if extranonceSize != d.Coinbase.ExtranonceSize {
		// The channel's shares would make another coinbase than the one
		// declared and proposed (and PushSolution could not rebuild it).
		return nil, jd.CodeInvalidCoinbasePrefix, fmt.Sprintf("the channel rolls a %d-byte extranonce, the declared coinbase has room for %d",
			extranonceSize, d.Coinbase.ExtranonceSize)
	}
	outs, err := share.ParseOutputs(m.CoinbaseTxOutputs)
	if err != nil {
		return nil, jd.CodeInvalidCoinbaseTxOutputs, err.Error()
	}
	job, err := share.NewJob(share.JobSpec{
		ID:       c.ids.Next(),
		Height:   d.Height,
		PrevHash: m.PrevHash,
		Version:  m.Version,
		Bits:     m.NBits,
		MinTime:  d.MinTime, // the pool node's: an earlier ntime makes no valid block
		CurTime:  m.MinNTime,
		Coinbase: share.CoinbaseParts{
			Version:         m.CoinbaseTxVersion,
			ScriptSigPrefix: m.CoinbasePrefix,
			ExtranonceSize:  extranonceSize,
			Sequence:        m.CoinbaseTxInputNSequence,
			Outputs:         outs,
			LockTime:        m.CoinbaseTxLocktime,
		},
		MerkleBranch: m.MerklePath,
		Transactions: d.Transactions,
		TxIDs:        d.TxIDs,
		Clean:        true,
		Declared:     true,
		Created:      c.now(),
	})
	if err != nil {
		return nil, jd.CodeInvalidCoinbaseTx, fmt.Sprintf("the custom job does not make a valid coinbase with a %d-byte extranonce: %v", extranonceSize, err)
	}
	return job, "", ""
}
