package payout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
)

// Broadcaster sends a signed transaction to the network. *node.Client
// implements it.
type Broadcaster interface {
	SendRawTransaction(ctx context.Context, tx []byte) (chainhash.Hash, error)
}

// dustLimit is the smallest output the payer creates (the classic P2PKH
// dust limit, conservative for P2WPKH).
const dustLimit = 546

// PayoutOutput is one miner's part of a payout transaction.
type PayoutOutput struct {
	Address string
	Vout    uint32
	// Sats is the output value; Settled the balance it settles (more than
	// Sats by the miner's part of the fee under FeePolicyMiners).
	Sats    int64
	Settled int64
}

// Payout is a recorded payout transaction.
type Payout struct {
	ID      int64
	Txid    chainhash.Hash
	Raw     []byte
	Fee     int64
	Paid    int64
	Outputs []PayoutOutput
}

// Payer pays balances at or above the threshold from the pool's matured
// coinbase outputs. Every payout is recorded (transaction, outputs, ledger
// rows, spent inputs) in one Postgres transaction before it is broadcast;
// Reconcile finds recorded payouts by txid in the chain and rebroadcasts the
// unconfirmed ones byte for byte, never rebuilding them, so a balance is
// never paid twice. Concurrent Payers (several daemons) serialise on a
// Postgres advisory lock.
type Payer struct {
	cfg   PayerConfig
	db    *pgxpool.Pool
	key   *Key
	chain Chain
	bc    Broadcaster
	log   *zap.Logger
	m     *Metrics
}

// NewPayer returns a Payer. chain is used to find payout transactions in
// blocks, bc to broadcast them (one *node.Client serves both). log and m may
// be nil.
func NewPayer(cfg PayerConfig, db *pgxpool.Pool, key *Key, chain Chain, bc Broadcaster, log *zap.Logger, m *Metrics) (*Payer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case db == nil:
		return nil, ErrNilDB
	case key == nil:
		return nil, &ConfigError{"key_file", "no payout key"}
	case chain == nil || bc == nil:
		return nil, &ConfigError{"nodes", "no node to pay through"}
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Payer{cfg: cfg.withDefaults(), db: db, key: key, chain: chain, bc: bc, log: log.Named("payout"), m: m}, nil
}

// Run reconciles, then pays every Interval until ctx is done; it returns
// nil then. Errors are logged and retried at the next tick.
func (p *Payer) Run(ctx context.Context) error {
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	for {
		if _, err := p.PayOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("payout run failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// PayOnce reconciles recorded payouts, then records and broadcasts one new
// payout if any balance reaches the threshold. It returns the new payout
// (nil when there was nothing to pay). A broadcast error is returned with
// the recorded payout: it stays pending and Reconcile rebroadcasts it.
func (p *Payer) PayOnce(ctx context.Context) (*Payout, error) {
	if err := p.Reconcile(ctx); err != nil {
		return nil, err
	}
	po, err := p.record(ctx)
	if err != nil || po == nil {
		return nil, err
	}
	return po, p.broadcast(ctx, po.ID, po.Raw, false)
}

type utxo struct {
	txid   chainhash.Hash
	vout   uint32
	value  int64
	script []byte
}

// record builds, signs and records a payout without broadcasting it.
func (p *Payer) record(ctx context.Context) (*Payout, error) {
	tip, err := p.chain.GetBlockCount(ctx)
	if err != nil {
		return nil, fmt.Errorf("payout: block count: %w", err)
	}
	tx, err := p.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("payout: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('adit_payout'))`); err != nil {
		return nil, fmt.Errorf("payout: lock: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT address, sum(amount_sats)::bigint FROM ledger WHERE address <> $1
		GROUP BY address HAVING sum(amount_sats) >= $2 ORDER BY address LIMIT $3`,
		p.cfg.FeeAccount, p.cfg.Threshold, p.cfg.MaxOutputs)
	if err != nil {
		return nil, fmt.Errorf("payout: balances: %w", err)
	}
	balances, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Balance])
	if err != nil {
		return nil, fmt.Errorf("payout: balances: %w", err)
	}
	type dest struct {
		Balance
		script []byte
	}
	var dests []dest
	var need int64
	for _, b := range balances {
		a, err := btcutil.DecodeAddress(b.Address, p.cfg.Network)
		if err != nil || !a.IsForNet(p.cfg.Network) {
			p.log.Warn("balance not payable: invalid address for the network", zap.String("address", b.Address))
			continue
		}
		script, err := txscript.PayToAddrScript(a)
		if err != nil {
			p.log.Warn("balance not payable: unsupported address", zap.String("address", b.Address))
			continue
		}
		dests = append(dests, dest{b, script})
		need += b.Sats
	}
	if len(dests) == 0 {
		return nil, nil
	}

	rows, err = tx.Query(ctx, `SELECT txid, vout, value_sats, pk_script FROM pool_utxos
		WHERE spent_by IS NULL AND spendable ORDER BY value_sats DESC, txid, vout FOR UPDATE`)
	if err != nil {
		return nil, fmt.Errorf("payout: pool outputs: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (utxo, error) {
		var u utxo
		var id []byte
		err := r.Scan(&id, &u.vout, &u.value, &u.script)
		copy(u.txid[:], id)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("payout: pool outputs: %w", err)
	}
	outScripts := make([][]byte, 0, len(dests)+1)
	for _, d := range dests {
		outScripts = append(outScripts, d.script)
	}
	outScripts = append(outScripts, p.key.pkScript) // change
	var (
		ins   []utxo
		in    int64
		fee   int64
		ready bool
	)
	for _, u := range all {
		if !bytes.Equal(u.script, p.key.pkScript) {
			continue // not ours to sign
		}
		ins = append(ins, u)
		in += u.value
		fee = estimateVSize(len(ins), outScripts) * p.cfg.FeeRate
		if (p.cfg.FeePolicy == FeePolicyPool && in >= need+fee) || (p.cfg.FeePolicy == FeePolicyMiners && in >= need) {
			ready = true
			break
		}
	}
	if !ready {
		return nil, fmt.Errorf("%w: need %d sats plus fee, have %d spendable", ErrInsufficientFunds, need, in)
	}

	outs := make([]PayoutOutput, len(dests))
	var paid int64
	for i, d := range dests {
		outs[i] = PayoutOutput{Address: d.Address, Vout: uint32(i), Sats: d.Sats, Settled: d.Sats}
	}
	if p.cfg.FeePolicy == FeePolicyMiners {
		ws := make([]AddressWeight, len(dests))
		for i, d := range dests {
			ws[i] = AddressWeight{Address: d.Address, Weight: float64(d.Sats)} // exact below 2^53
		}
		_, parts, err := Split(fee, 0, ws)
		if err != nil {
			return nil, fmt.Errorf("payout: fee split: %w", err)
		}
		byAddr := make(map[string]int64, len(parts))
		for _, c := range parts {
			byAddr[c.Address] = c.Sats
		}
		for i := range outs {
			outs[i].Sats -= byAddr[outs[i].Address]
			if outs[i].Sats < dustLimit {
				return nil, fmt.Errorf("%w: %s's output after its fee part is dust", ErrInsufficientFunds, outs[i].Address)
			}
		}
	}
	for _, o := range outs {
		paid += o.Sats
	}
	change := in - paid - fee
	// txFee is what the fee account is charged: the whole fee when the pool
	// pays it, plus any change too small to keep.
	var txFee int64
	if p.cfg.FeePolicy == FeePolicyPool {
		txFee = fee
	}
	if change < dustLimit {
		fee += change
		txFee += change
		change = 0
	}
	if txFee > 0 {
		var feeBal int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_sats), 0)::bigint FROM ledger WHERE address = $1`,
			p.cfg.FeeAccount).Scan(&feeBal); err != nil {
			return nil, fmt.Errorf("payout: fee account: %w", err)
		}
		if feeBal < txFee {
			return nil, fmt.Errorf("%w: fee %d sats, fee account %d", ErrFeeAccountShort, txFee, feeBal)
		}
	}

	msg := wire.NewMsgTx(2)
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(ins))
	for _, u := range ins {
		op := wire.OutPoint{Hash: u.txid, Index: u.vout}
		msg.AddTxIn(wire.NewTxIn(&op, nil, nil))
		prevOuts[op] = wire.NewTxOut(u.value, u.script)
	}
	for i, o := range outs {
		msg.AddTxOut(wire.NewTxOut(o.Sats, dests[i].script))
	}
	if change > 0 {
		msg.AddTxOut(wire.NewTxOut(change, p.key.pkScript))
	}
	if err := p.sign(msg, prevOuts); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := msg.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("payout: serialize: %w", err)
	}
	txid := msg.TxHash()
	po := &Payout{Txid: txid, Raw: buf.Bytes(), Fee: fee, Paid: paid, Outputs: outs}

	if err := tx.QueryRow(ctx, `INSERT INTO payouts (txid, raw_tx, fee_sats, fee_policy, paid_sats, created_height, scanned_height)
		VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`,
		txid[:], po.Raw, fee, string(p.cfg.FeePolicy), paid, tip).Scan(&po.ID); err != nil {
		return nil, fmt.Errorf("payout: record: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"payout_outputs"},
		[]string{"payout_id", "address", "vout", "amount_sats", "settled_sats"},
		pgx.CopyFromSlice(len(outs), func(i int) ([]any, error) {
			return []any{po.ID, outs[i].Address, int32(outs[i].Vout), outs[i].Sats, outs[i].Settled}, nil
		})); err != nil {
		return nil, fmt.Errorf("payout: record outputs: %w", err)
	}
	ledgerRows := make([][]any, 0, len(outs)+1)
	for _, o := range outs {
		ledgerRows = append(ledgerRows, []any{o.Address, KindPayout, -o.Settled, po.ID})
	}
	if txFee > 0 {
		ledgerRows = append(ledgerRows, []any{p.cfg.FeeAccount, KindTxFee, -txFee, po.ID})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger"},
		[]string{"address", "kind", "amount_sats", "payout_id"}, pgx.CopyFromRows(ledgerRows)); err != nil {
		return nil, fmt.Errorf("payout: record ledger: %w", err)
	}
	for _, u := range ins {
		if _, err := tx.Exec(ctx, `UPDATE pool_utxos SET spent_by = $3 WHERE txid = $1 AND vout = $2 AND spent_by IS NULL`,
			u.txid[:], u.vout, po.ID); err != nil {
			return nil, fmt.Errorf("payout: record inputs: %w", err)
		}
	}
	if change > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO pool_utxos (txid, vout, value_sats, pk_script, change_of, spendable)
			VALUES ($1, $2, $3, $4, $5, false)`, txid[:], len(outs), change, p.key.pkScript, po.ID); err != nil {
			return nil, fmt.Errorf("payout: record change: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("payout: record commit: %w", err)
	}
	p.m.payouts.WithLabelValues(PayoutPending).Inc()
	if owed, err := totalOwed(ctx, p.db, p.cfg.FeeAccount); err == nil {
		p.m.balances.Set(float64(owed))
	}
	p.log.Info("payout recorded", zap.Int64("payout_id", po.ID), zap.Stringer("txid", txid),
		zap.Int("miners", len(outs)), zap.Int64("paid_sats", paid), zap.Int64("fee_sats", fee))
	return po, nil
}

// sign signs every input (all P2WPKH of the pool key) and verifies the
// result with the script engine.
func (p *Payer) sign(msg *wire.MsgTx, prevOuts map[wire.OutPoint]*wire.TxOut) error {
	fetcher := txscript.NewMultiPrevOutFetcher(prevOuts)
	hashes := txscript.NewTxSigHashes(msg, fetcher)
	for i, in := range msg.TxIn {
		prev := prevOuts[in.PreviousOutPoint]
		w, err := txscript.WitnessSignature(msg, hashes, i, prev.Value, prev.PkScript, txscript.SigHashAll, p.key.priv, true)
		if err != nil {
			return fmt.Errorf("payout: sign input %d: %w", i, err)
		}
		in.Witness = w
	}
	for i, in := range msg.TxIn {
		prev := prevOuts[in.PreviousOutPoint]
		vm, err := txscript.NewEngine(prev.PkScript, msg, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return fmt.Errorf("payout: verify input %d: %w", i, err)
		}
	}
	return nil
}

// estimateVSize is an upper bound of the virtual size of a transaction
// spending n P2WPKH inputs to outputs (signatures counted at their maximum).
func estimateVSize(n int, outputs [][]byte) int64 {
	base := 4 + wire.VarIntSerializeSize(uint64(n)) + wire.VarIntSerializeSize(uint64(len(outputs))) + 4
	base += n * (32 + 4 + 1 + 4)
	for _, s := range outputs {
		base += 8 + wire.VarIntSerializeSize(uint64(len(s))) + len(s)
	}
	witness := 2 + n*(1+1+73+1+33) // marker, flag; items, sig, pubkey
	weight := int64(base*4 + witness)
	return (weight + 3) / 4
}

// broadcast sends a recorded payout and marks it broadcast.
func (p *Payer) broadcast(ctx context.Context, id int64, raw []byte, again bool) error {
	if _, err := p.bc.SendRawTransaction(ctx, raw); err != nil {
		p.m.payouts.WithLabelValues("broadcast_error").Inc()
		p.log.Warn("payout broadcast failed; will retry", zap.Int64("payout_id", id), zap.Bool("rebroadcast", again), zap.Error(err))
		return fmt.Errorf("payout: broadcast payout %d: %w", id, err)
	}
	tag, err := p.db.Exec(ctx, `UPDATE payouts SET status = 'broadcast', broadcast_at = $2
		WHERE id = $1 AND status = 'pending'`, id, p.cfg.Clock())
	if err != nil {
		return fmt.Errorf("payout: mark broadcast: %w", err)
	}
	if tag.RowsAffected() > 0 {
		p.m.payouts.WithLabelValues(PayoutBroadcast).Inc()
	}
	p.log.Info("payout broadcast", zap.Int64("payout_id", id), zap.Bool("rebroadcast", again))
	return nil
}

type openPayout struct {
	id      int64
	txid    chainhash.Hash
	raw     []byte
	created int64
	scanned int64
	paid    int64
}

// Reconcile settles every recorded payout that is not confirmed: it
// searches the blocks since the payout was last looked at (and ReorgDepth
// before, in case a reorganisation moved it) for its txid and marks it
// confirmed (its change becomes spendable), or else rebroadcasts the
// recorded transaction unchanged. First it takes back the confirmation of
// any payout whose block, fewer than ReorgDepth deep, left the best chain.
// Call it on start; PayOnce calls it first. Broadcast errors are logged,
// not returned (the node may already have the transaction). A complete run
// sets adit_payout_oldest_unconfirmed_blocks.
func (p *Payer) Reconcile(ctx context.Context) error {
	tip, err := p.chain.GetBlockCount(ctx)
	if err != nil {
		return fmt.Errorf("payout: block count: %w", err)
	}
	if err := p.recheckConfirmed(ctx, tip); err != nil {
		return err
	}
	rows, err := p.db.Query(ctx, `SELECT id, txid, raw_tx, created_height, scanned_height, paid_sats FROM payouts
		WHERE status <> 'confirmed' ORDER BY id`)
	if err != nil {
		return fmt.Errorf("payout: open payouts: %w", err)
	}
	open, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (openPayout, error) {
		var o openPayout
		var id []byte
		err := r.Scan(&o.id, &id, &o.raw, &o.created, &o.scanned, &o.paid)
		copy(o.txid[:], id)
		return o, err
	})
	if err != nil {
		return fmt.Errorf("payout: open payouts: %w", err)
	}
	blocks := map[int64]blockTxs{}
	var waited int64 // by the oldest payout still open
	for _, o := range open {
		found := false
		for h := max(o.created, o.scanned-p.cfg.ReorgDepth) + 1; h <= tip && !found; h++ {
			b, ok := blocks[h]
			if !ok {
				if b, err = p.blockTxs(ctx, h); err != nil {
					return err
				}
				blocks[h] = b
			}
			if _, ok := b.txids[o.txid]; ok {
				found = true
				if err := p.confirm(ctx, o, h, b.hash); err != nil {
					return err
				}
			}
		}
		if found {
			continue
		}
		waited = max(waited, tip-o.created)
		if _, err := p.db.Exec(ctx, `UPDATE payouts SET scanned_height = $2 WHERE id = $1`, o.id, max(tip, o.scanned)); err != nil {
			return fmt.Errorf("payout: scanned height: %w", err)
		}
		_ = p.broadcast(ctx, o.id, o.raw, true) // logged; retried next time
	}
	p.m.openBlocks.Set(float64(waited))
	return nil
}

// recheckConfirmed moves every payout confirmed in the last ReorgDepth
// blocks whose block is no longer the best chain's at that height back to
// broadcast (a height above the node's tip is left alone until the node
// has a block there): its change is unspendable again until the transaction
// confirms anew, and the search for it restarts below that height.
func (p *Payer) recheckConfirmed(ctx context.Context, tip int64) error {
	rows, err := p.db.Query(ctx, `SELECT id, txid, confirmed_height, confirmed_block FROM payouts
		WHERE status = 'confirmed' AND confirmed_height > $1 ORDER BY id`, tip-p.cfg.ReorgDepth)
	if err != nil {
		return fmt.Errorf("payout: recent payouts: %w", err)
	}
	recent, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (confirmedPayout, error) {
		var c confirmedPayout
		var id, block []byte
		err := r.Scan(&c.id, &id, &c.height, &block)
		copy(c.txid[:], id)
		copy(c.block[:], block)
		return c, err
	})
	if err != nil {
		return fmt.Errorf("payout: recent payouts: %w", err)
	}
	for _, c := range recent {
		if c.height > tip {
			// A node behind (restarting, or a lagging failover) proves
			// nothing; only a different block at that height does.
			continue
		}
		h, err := p.chain.GetBlockHash(ctx, c.height)
		if err != nil {
			return fmt.Errorf("payout: block hash %d: %w", c.height, err)
		}
		if h == c.block {
			continue
		}
		if err := p.unconfirm(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

type confirmedPayout struct {
	id     int64
	txid   chainhash.Hash
	height int64
	block  chainhash.Hash
}

// unconfirm takes back c's confirmation (see recheckConfirmed).
func (p *Payer) unconfirm(ctx context.Context, c confirmedPayout) error {
	err := pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE payouts SET status = 'broadcast', confirmed_height = NULL, confirmed_block = NULL,
			confirmed_at = NULL, scanned_height = $2, unconfirmed_count = unconfirmed_count + 1
			WHERE id = $1 AND status = 'confirmed'`, c.id, c.height-1); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE pool_utxos SET spendable = false WHERE change_of = $1 AND spent_by IS NULL`, c.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("payout: unconfirm payout %d: %w", c.id, err)
	}
	p.m.payouts.WithLabelValues(PayoutUnconfirmed).Inc()
	p.log.Warn("payout's block left the best chain; the payout is open again", zap.Int64("payout_id", c.id),
		zap.Stringer("txid", c.txid), zap.Int64("height", c.height), zap.Stringer("block", c.block))
	return nil
}

type blockTxs struct {
	hash  chainhash.Hash
	txids map[chainhash.Hash]struct{}
}

func (p *Payer) blockTxs(ctx context.Context, height int64) (blockTxs, error) {
	hash, err := p.chain.GetBlockHash(ctx, height)
	if err != nil {
		return blockTxs{}, fmt.Errorf("payout: block hash %d: %w", height, err)
	}
	raw, err := p.chain.GetBlock(ctx, hash)
	if err != nil {
		return blockTxs{}, fmt.Errorf("payout: block %s: %w", hash, err)
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
		return blockTxs{}, fmt.Errorf("payout: decode block %s: %w", hash, err)
	}
	b := blockTxs{hash: hash, txids: make(map[chainhash.Hash]struct{}, len(blk.Transactions))}
	for _, t := range blk.Transactions {
		b.txids[t.TxHash()] = struct{}{}
	}
	return b, nil
}

func (p *Payer) confirm(ctx context.Context, o openPayout, height int64, block chainhash.Hash) error {
	var again int // earlier confirmations taken back by reorganisations
	err := pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE payouts SET status = 'confirmed', confirmed_height = $2, confirmed_block = $3,
			confirmed_at = $4, scanned_height = $2 WHERE id = $1 AND status <> 'confirmed' RETURNING unconfirmed_count`,
			o.id, height, block[:], p.cfg.Clock()).Scan(&again)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAlreadyConfirmed
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE pool_utxos SET spendable = true WHERE change_of = $1`, o.id)
		return err
	})
	if errors.Is(err, errAlreadyConfirmed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("payout: confirm payout %d: %w", o.id, err)
	}
	p.m.payouts.WithLabelValues(PayoutConfirmed).Inc()
	if again == 0 {
		p.m.payoutSats.Add(float64(o.paid))
	}
	p.log.Info("payout confirmed", zap.Int64("payout_id", o.id), zap.Stringer("txid", o.txid), zap.Int64("height", height))
	return nil
}

var errAlreadyConfirmed = errors.New("payout: already confirmed")
