package share

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"github.com/adit-pool/adit/share/vectortest"
	"testing"
	"time"
)

// The SRI channel vectors are read from ../shared/vectors/sri-channels
// (see ../shared/vectors/README.md for byte orders and provenance).

type sriFile struct {
	Template struct {
		Version                 uint32   `json:"version"`
		CoinbaseTxVersion       uint32   `json:"coinbase_tx_version"`
		CoinbasePrefix          string   `json:"coinbase_prefix"`
		CoinbaseTxInputSequence uint32   `json:"coinbase_tx_input_sequence"`
		CoinbaseTxOutputsCount  int      `json:"coinbase_tx_outputs_count"`
		CoinbaseTxOutputs       string   `json:"coinbase_tx_outputs"`
		CoinbaseTxLocktime      uint32   `json:"coinbase_tx_locktime"`
		MerklePath              []string `json:"merkle_path"`
	} `json:"template"`
	RewardOutputs []struct {
		ValueSat     int64  `json:"value_sat"`
		ScriptPubkey string `json:"script_pubkey"`
	} `json:"coinbase_reward_outputs"`
	VersionRollingMask string      `json:"version_rolling_mask"`
	Vectors            []sriVector `json:"vectors"`
}

type sriVector struct {
	Test    string `json:"test"`
	Channel struct {
		ExtranoncePrefix      string `json:"extranonce_prefix"`
		RollableExtranonce    *int   `json:"rollable_extranonce_size"`
		FullExtranonceSize    *int   `json:"full_extranonce_size"`
		VersionRollingAllowed *bool  `json:"version_rolling_allowed"`
		Target                struct {
			TargetLE string `json:"target_le"`
			TargetBE string `json:"target_be"`
		} `json:"target"`
	} `json:"channel"`
	ChainTip struct {
		PrevHash        string `json:"prev_hash"`
		NBits           uint32 `json:"nbits"`
		MinNTime        uint32 `json:"min_ntime"`
		NetworkTargetBE string `json:"network_target_be"`
	} `json:"chain_tip"`
	ExpectedJob struct {
		MerkleRoot       string   `json:"merkle_root"`
		Version          uint32   `json:"version"`
		MerklePath       []string `json:"merkle_path"`
		CoinbaseTxPrefix string   `json:"coinbase_tx_prefix"`
		CoinbaseTxSuffix string   `json:"coinbase_tx_suffix"`
		Derived          struct {
			CoinbaseTx            string `json:"coinbase_tx"`
			CoinbaseTxWithWitness string `json:"coinbase_tx_with_witness"`
			TxID                  string `json:"txid"`
		} `json:"derived"`
	} `json:"expected_job"`
	Shares        []sriShare `json:"shares"`
	ShareTemplate *struct {
		JobID      uint32    `json:"job_id"`
		NonceRange [2]uint32 `json:"nonce_range"`
		NTime      uint32    `json:"ntime"`
		Version    uint32    `json:"version"`
	} `json:"share_template"`
	ExpectedEach *sriExpected `json:"expected_each"`
}

type sriExpected struct {
	Result    string  `json:"result"`
	ErrorCode *string `json:"error_code"`
}

type sriShare struct {
	JobID      uint32      `json:"job_id"`
	Nonce      uint32      `json:"nonce"`
	NTime      uint32      `json:"ntime"`
	Version    uint32      `json:"version"`
	Extranonce string      `json:"extranonce"`
	Expected   sriExpected `json:"expected"`
	Derived    struct {
		Result                   string `json:"result"`
		CoinbaseTx               string `json:"coinbase_tx"`
		TxID                     string `json:"txid"`
		MerkleRoot               string `json:"merkle_root"`
		Header                   string `json:"header"`
		HashRaw                  string `json:"hash_raw"`
		BlockCoinbaseWithWitness string `json:"block_coinbase_with_witness"`
	} `json:"derived"`
}

func loadSRI(t *testing.T, name string) *sriFile {
	t.Helper()
	b := vectortest.ReadVector(t, "sri-channels/"+name)
	var f sriFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return &f
}

// sriCoinbase rebuilds SRI's JobFactory coinbase split for a full extranonce
// of enSize bytes: scriptSig = template prefix ‖ push "Sv2///" ‖ push(enSize).
func sriCoinbase(t *testing.T, f *sriFile, enSize int) (prefix, suffix []byte) {
	tp := f.Template
	script := mustHex(t, tp.CoinbasePrefix)
	script = append(script, 0x06)
	script = append(script, "Sv2///"...)
	script = append(script, byte(enSize))
	prefix = binary.LittleEndian.AppendUint32(nil, tp.CoinbaseTxVersion)
	prefix = append(prefix, 1)
	prefix = append(prefix, make([]byte, 32)...)
	prefix = binary.LittleEndian.AppendUint32(prefix, 0xffffffff)
	prefix = appendVarInt(prefix, uint64(len(script)+enSize))
	prefix = append(prefix, script...)

	suffix = binary.LittleEndian.AppendUint32(nil, tp.CoinbaseTxInputSequence)
	suffix = appendVarInt(suffix, uint64(len(f.RewardOutputs)+tp.CoinbaseTxOutputsCount))
	for _, o := range f.RewardOutputs {
		suffix = binary.LittleEndian.AppendUint64(suffix, uint64(o.ValueSat))
		sc := mustHex(t, o.ScriptPubkey)
		suffix = appendVarInt(suffix, uint64(len(sc)))
		suffix = append(suffix, sc...)
	}
	suffix = append(suffix, mustHex(t, tp.CoinbaseTxOutputs)...)
	suffix = binary.LittleEndian.AppendUint32(suffix, tp.CoinbaseTxLocktime)
	return prefix, suffix
}

func sriReason(t *testing.T, e sriExpected, derived string) (RejectReason, bool) {
	res := e.Result
	if res == "Ok" {
		res = derived
	}
	switch res {
	case "BlockFound":
		return Accepted, true
	case "Valid":
		return Accepted, false
	case "DoesNotMeetTarget":
		return RejectLowDifficulty, false
	case "DuplicateShare":
		return RejectDuplicate, false
	case "VersionRollingNotAllowed":
		return RejectBadVersion, false
	case "Invalid":
		switch *e.ErrorCode {
		case "invalid-share":
			return RejectBadNTime, false
		case "invalid-non-rollable-version-bit":
			return RejectBadVersion, false
		}
	}
	t.Fatalf("unmapped outcome %+v", e)
	return 0, false
}

func TestSRIStandardShareVectors(t *testing.T) { runSRI(t, "standard-share-validation.json", false) }
func TestSRIExtendedShareVectors(t *testing.T) { runSRI(t, "extended-share-validation.json", true) }

func runSRI(t *testing.T, file string, extended bool) {
	forEachImpl(t, func(t *testing.T) {
		f := loadSRI(t, file)
		mask := uint32(0x1fffffe0)
		if f.VersionRollingMask != "1fffffe0" {
			t.Fatalf("mask %s", f.VersionRollingMask)
		}
		for _, vec := range f.Vectors {
			t.Run(vec.Test, func(t *testing.T) { runSRIVector(t, f, vec, extended, mask) })
		}
	})
}

func runSRIVector(t *testing.T, f *sriFile, vec sriVector, extended bool, mask uint32) {
	chPrefix := mustHex(t, vec.Channel.ExtranoncePrefix)
	enSize := len(chPrefix) // standard: the whole prefix is the extranonce
	if extended {
		enSize = *vec.Channel.FullExtranonceSize
		if enSize != len(chPrefix)+*vec.Channel.RollableExtranonce {
			t.Fatal("full extranonce size")
		}
		if !*vec.Channel.VersionRollingAllowed {
			mask = 0
		}
	}
	cbPrefix, cbSuffix := sriCoinbase(t, f, enSize)
	if extended {
		if hex.EncodeToString(cbPrefix) != vec.ExpectedJob.CoinbaseTxPrefix || hex.EncodeToString(cbSuffix) != vec.ExpectedJob.CoinbaseTxSuffix {
			t.Fatalf("coinbase split differs from the job's\n%x\n%s\n%x\n%s", cbPrefix, vec.ExpectedJob.CoinbaseTxPrefix, cbSuffix, vec.ExpectedJob.CoinbaseTxSuffix)
		}
	}
	var branch [][32]byte
	for _, p := range vec.ExpectedJob.MerklePath {
		branch = append(branch, mustHex32(t, p))
	}
	netTarget := TargetFromCompact(vec.ChainTip.NBits)
	if netTarget.Big().Cmp(bigHex(t, vec.ChainTip.NetworkTargetBE)) != 0 {
		t.Fatal("network target expansion")
	}
	chTarget := TargetFromLE(mustHex32(t, vec.Channel.Target.TargetLE))
	if chTarget.Big().Cmp(bigHex(t, vec.Channel.Target.TargetBE)) != 0 {
		t.Fatal("channel target LE/BE")
	}
	job := &Job{
		ID: 1, PrevHash: mustHex32(t, vec.ChainTip.PrevHash), Version: f.Template.Version,
		Bits: vec.ChainTip.NBits, NetworkTarget: netTarget, MinTime: vec.ChainTip.MinNTime,
		CoinbasePrefix: cbPrefix, CoinbaseSuffix: cbSuffix, ExtranonceSize: enSize,
		Witness:      bytes.Contains(mustHex(t, f.Template.CoinbaseTxOutputs), []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}),
		MerkleBranch: branch,
	}
	if err := job.Validate(); err != nil {
		t.Fatal(err)
	}
	if !extended {
		// standard job: the pool sends the merkle root for the channel's prefix
		cb := job.Coinbase(chPrefix)
		if hex.EncodeToString(cb) != vec.ExpectedJob.Derived.CoinbaseTx {
			t.Fatalf("standard coinbase differs:\n%x\n%s", cb, vec.ExpectedJob.Derived.CoinbaseTx)
		}
		if hex.EncodeToString(witnessCoinbase(cb)) != vec.ExpectedJob.Derived.CoinbaseTxWithWitness {
			t.Fatal("standard witness coinbase differs")
		}
		root := MerkleRoot(DoubleSHA256(cb), branch)
		if hex.EncodeToString(root[:]) != vec.ExpectedJob.MerkleRoot {
			t.Fatalf("merkle root %x want %s", root, vec.ExpectedJob.MerkleRoot)
		}
	}

	var latest uint32
	for _, s := range vec.Shares {
		latest = max(latest, s.NTime)
	}
	if vec.ShareTemplate != nil {
		latest = max(latest, vec.ShareTemplate.NTime)
	}
	v := NewValidator(ValidatorConfig{Now: func() time.Time { return time.Unix(int64(latest), 0) }})
	v.AddJob(job)
	minerPrefix := chPrefix
	sess := v.NewSession(minerPrefix, chTarget)
	sess.SetVersionMask(mask)
	sess.JobSent(job)

	submit := func(s sriShare) Result {
		sub := Submission{JobID: s.JobID, NTime: s.NTime, Nonce: s.Nonce, HasVersion: true,
			VersionBits: VersionBitsFromHeader(job.Version, mask, s.Version)}
		if extended {
			sub.Extranonce = mustHex(t, s.Extranonce)
		}
		var res Result
		sess.Validate(&sub, &res)
		return res
	}

	for i, s := range vec.Shares {
		wantReason, wantBlock := sriReason(t, s.Expected, s.Derived.Result)
		res := submit(s)
		if res.Reason != wantReason || res.Block != wantBlock {
			t.Fatalf("share %d: got %v block=%v, want %v block=%v", i, res.Reason, res.Block, wantReason, wantBlock)
		}
		if extended && s.Derived.CoinbaseTx != "" {
			cb := job.Coinbase(sess.FullExtranonce(mustHex(t, s.Extranonce)))
			if hex.EncodeToString(cb) != s.Derived.CoinbaseTx {
				t.Fatalf("share %d coinbase differs", i)
			}
			root := MerkleRoot(DoubleSHA256(cb), branch)
			if hex.EncodeToString(root[:]) != s.Derived.MerkleRoot {
				t.Fatalf("share %d merkle root", i)
			}
		}
		if s.Derived.Header != "" {
			if hex.EncodeToString(res.Header[:]) != s.Derived.Header {
				t.Fatalf("share %d header\n%x\n%s", i, res.Header, s.Derived.Header)
			}
			if hex.EncodeToString(res.Hash[:]) != s.Derived.HashRaw {
				t.Fatalf("share %d hash %x want %s", i, res.Hash, s.Derived.HashRaw)
			}
		}
		if s.Derived.BlockCoinbaseWithWitness != "" && res.Block {
			want := mustHex(t, s.Derived.BlockCoinbaseWithWitness)
			if !bytes.Equal(res.BlockData[:80], res.Header[:]) || res.BlockData[80] != 1 || !bytes.Equal(res.BlockData[81:], want) {
				t.Fatalf("share %d block data\n%x\nwant coinbase %x", i, res.BlockData, want)
			}
		}
	}
	if st := vec.ShareTemplate; st != nil {
		want, _ := sriReason(t, *vec.ExpectedEach, "")
		for n := st.NonceRange[0]; n <= st.NonceRange[1]; n++ {
			res := submit(sriShare{JobID: st.JobID, Nonce: n, NTime: st.NTime, Version: st.Version})
			if res.Reason != want {
				t.Fatalf("nonce %d: %v want %v", n, res.Reason, want)
			}
		}
	}
}
