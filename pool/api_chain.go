package pool

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/adit-pool/adit/payout"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// blockJSON is one block of /api/v1/blocks (and /api/v1/pool's last_block).
type blockJSON struct {
	ID     int64     `json:"id"`
	Height int64     `json:"height"`
	Hash   string    `json:"hash"`
	Time   time.Time `json:"time"`
	// Status: found (recorded, not yet answered by a node), submitted (a
	// node took it), accepted (in the best chain), mature (credited),
	// orphaned (another block is at its height), rejected (refused).
	Status string `json:"status"`
	// Confirmations in the best chain (0 unless accepted or mature).
	Confirmations int64 `json:"confirmations"`
	// MaturesIn is how many more blocks until it is credited (accepted only).
	MaturesIn *int64 `json:"matures_in_blocks,omitempty"`
	// RewardSats is the coinbase value: the template's until the block
	// matures (RewardFinal false), then the block's own.
	RewardSats        *int64      `json:"reward_sats"`
	RewardFinal       bool        `json:"reward_final"`
	FinderAddress     string      `json:"finder_address"`
	FinderWorker      string      `json:"finder_worker"`
	NetworkDifficulty *float64    `json:"network_difficulty"`
	Window            *windowJSON `json:"pplns_window"`
	SubmittedAt       *time.Time  `json:"submitted_at,omitempty"`
	SubmitError       *string     `json:"submit_error,omitempty"`
	CreditedAt        *time.Time  `json:"credited_at,omitempty"`
	CoinbaseTxid      *string     `json:"coinbase_txid,omitempty"`
}

// windowJSON is a block's PPLNS window snapshot: the difficulty the
// window had to reach (factor × network difficulty), what its shares
// summed to (less when the pool had fewer shares) and their count.
type windowJSON struct {
	Target float64   `json:"target"`
	Weight float64   `json:"weight"`
	Shares int64     `json:"shares"`
	At     time.Time `json:"at"`
}

func (p *Pool) blockJSON(b *payout.Block, tip int64) blockJSON {
	out := blockJSON{
		ID: b.ID, Height: b.Height, Hash: displayHash(b.Hash), Time: b.FoundAt.UTC(), Status: b.Status,
		Confirmations: b.Confirmations, RewardSats: b.RewardSats, RewardFinal: b.Status == payout.StatusMature,
		FinderAddress: b.FinderAddress, FinderWorker: b.FinderWorker, NetworkDifficulty: b.NetworkDifficulty,
		SubmittedAt: b.SubmittedAt, SubmitError: b.SubmitError, CreditedAt: b.CreditedAt,
	}
	switch b.Status {
	case payout.StatusAccepted, payout.StatusMature:
		// The tracker stops counting at maturity and polls every few
		// seconds: the pool's own tip is fresher.
		if tip >= b.Height {
			out.Confirmations = max(out.Confirmations, tip-b.Height+1)
		}
		if b.Status == payout.StatusAccepted {
			left := max(p.maturity()-out.Confirmations, 0)
			out.MaturesIn = &left
		}
	default:
		out.Confirmations = 0
	}
	if b.WindowAt != nil {
		out.Window = &windowJSON{At: b.WindowAt.UTC()}
		if b.WindowTarget != nil {
			out.Window.Target = *b.WindowTarget
		}
		if b.WindowWeight != nil {
			out.Window.Weight = *b.WindowWeight
		}
		if b.WindowShares != nil {
			out.Window.Shares = *b.WindowShares
		}
	}
	if len(b.CoinbaseTxid) == 32 {
		s := displayHash([32]byte(b.CoinbaseTxid))
		out.CoinbaseTxid = &s
	}
	return out
}

// blocksPage is the JSON body of /api/v1/blocks.
type blocksPage struct {
	ChainHeight int64       `json:"chain_height"`
	Maturity    int64       `json:"maturity"`
	Blocks      []blockJSON `json:"blocks"`
	Next        *string     `json:"next"`
}

// parseBlockCursor reads "height" (blocks below it) or "height:id" (the
// blocks after that one in newest-first order).
func parseBlockCursor(s string) (*payout.BlockCursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := fmt.Errorf("before %q is not a block cursor (a height, or height:id from a previous page's next)", trunc(s))
	hs, ids, hasID := strings.Cut(s, ":")
	h, err := strconv.ParseInt(hs, 10, 64)
	if err != nil || h < 0 {
		return nil, bad
	}
	c := &payout.BlockCursor{Height: h}
	if hasID {
		if c.ID, err = strconv.ParseInt(ids, 10, 64); err != nil || c.ID < 1 {
			return nil, bad
		}
	}
	return c, nil
}

// pageRequest parses a list endpoint's page and its cursor (parse) and
// checks that payouts, whose tables the lists read, are on; it answers the
// error itself when ok is false.
func pageRequest[C any](p *Pool, w http.ResponseWriter, r *http.Request, parse func(string) (C, error)) (pg page, cur C, ledger *payout.Ledger, ok bool) {
	pg, err := parsePage(r.URL.Query(), defaultPage)
	if err == nil {
		cur, err = parse(pg.before)
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return pg, cur, nil, false
	}
	if ledger = p.storage.ledger; ledger == nil {
		noPayouts(w)
		return pg, cur, nil, false
	}
	return pg, cur, ledger, true
}

func (p *Pool) blocksHandler(w http.ResponseWriter, r *http.Request) {
	pg, cur, ledger, ok := pageRequest(p, w, r, parseBlockCursor)
	if !ok {
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	bs, err := ledger.Blocks(ctx, cur, pg.limit)
	if err != nil {
		p.dbFailed(w, "blocks", err)
		return
	}
	tip := p.chainTip()
	out := blocksPage{ChainHeight: tip, Maturity: p.maturity(), Blocks: make([]blockJSON, 0, len(bs))}
	for i := range bs {
		out.Blocks = append(out.Blocks, p.blockJSON(&bs[i], tip))
	}
	if n := len(bs); n > 0 {
		out.Next = nextURL(r, n, pg.limit, fmt.Sprintf("%d:%d", bs[n-1].Height, bs[n-1].ID))
	}
	writeAPI(w, r, 10*time.Second, out)
}

// payoutJSON is one payout of /api/v1/payouts.
type payoutJSON struct {
	ID   int64  `json:"id"`
	Txid string `json:"txid"`
	// Status: pending (recorded, not yet broadcast), broadcast, confirmed.
	Status          string     `json:"status"`
	Confirmations   int64      `json:"confirmations"`
	ConfirmedHeight *int64     `json:"confirmed_height"`
	PaidSats        int64      `json:"paid_sats"`
	FeeSats         int64      `json:"fee_sats"`
	TxFeePolicy     string     `json:"tx_fee_policy"`
	CreatedAt       time.Time  `json:"created_at"`
	BroadcastAt     *time.Time `json:"broadcast_at"`
	ConfirmedAt     *time.Time `json:"confirmed_at"`
	OutputCount     int        `json:"output_count"`
	// Outputs are the first outputs (by vout): all of them unless
	// OutputsTruncated.
	Outputs          []payoutOutputJSON `json:"outputs"`
	OutputsTruncated bool               `json:"outputs_truncated"`
}

type payoutOutputJSON struct {
	Address string `json:"address"`
	Vout    uint32 `json:"vout"`
	Sats    int64  `json:"amount_sats"`
	// SettledSats is the balance the output settles: more than the amount
	// by the address's part of the transaction fee when miners pay it.
	SettledSats int64 `json:"settled_sats"`
}

// Outputs per payout: in the list, and for one payout.
const (
	listOutputs   = 20
	payoutOutputs = 10_000
)

func payoutToJSON(pr *payout.PayoutRecord, tip int64) payoutJSON {
	out := payoutJSON{
		ID: pr.ID, Txid: displayHash(pr.Txid), Status: pr.Status, ConfirmedHeight: pr.ConfirmedHeight,
		PaidSats: pr.PaidSats, FeeSats: pr.FeeSats, TxFeePolicy: pr.FeePolicy, CreatedAt: pr.CreatedAt.UTC(),
		BroadcastAt: pr.BroadcastAt, ConfirmedAt: pr.ConfirmedAt, OutputCount: pr.OutputCount,
		Outputs: make([]payoutOutputJSON, 0, len(pr.Outputs)), OutputsTruncated: len(pr.Outputs) < pr.OutputCount,
	}
	out.Confirmations = confirmations(pr.Status == "confirmed", pr.ConfirmedHeight, tip)
	for _, o := range pr.Outputs {
		out.Outputs = append(out.Outputs, payoutOutputJSON{Address: o.Address, Vout: o.Vout, Sats: o.Sats, SettledSats: o.Settled})
	}
	return out
}

// confirmations of a transaction confirmed at height, with the chain at tip.
func confirmations(confirmed bool, height *int64, tip int64) int64 {
	if !confirmed || height == nil || tip < *height {
		return 0
	}
	return tip - *height + 1
}

// payoutsPage is the JSON body of /api/v1/payouts.
type payoutsPage struct {
	Payouts []payoutJSON `json:"payouts"`
	Next    *string      `json:"next"`
}

func (p *Pool) payoutsHandler(w http.ResponseWriter, r *http.Request) {
	pg, before, ledger, ok := pageRequest(p, w, r, parseID)
	if !ok {
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	ps, err := ledger.Payouts(ctx, before, pg.limit, listOutputs)
	if err != nil {
		p.dbFailed(w, "payouts", err)
		return
	}
	tip := p.chainTip()
	out := payoutsPage{Payouts: make([]payoutJSON, 0, len(ps))}
	for i := range ps {
		out.Payouts = append(out.Payouts, payoutToJSON(&ps[i], tip))
	}
	if n := len(ps); n > 0 {
		out.Next = nextURL(r, n, pg.limit, strconv.FormatInt(ps[n-1].ID, 10))
	}
	writeAPI(w, r, 10*time.Second, out)
}

func (p *Pool) payoutHandler(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("txid")
	h, err := chainhash.NewHashFromStr(s)
	if len(s) != 64 || err != nil {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a transaction id (64 hex digits)", trunc(s)))
		return
	}
	if _, err := hex.DecodeString(s); err != nil {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a transaction id (64 hex digits)", trunc(s)))
		return
	}
	ledger := p.storage.ledger
	if ledger == nil {
		noPayouts(w)
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	pr, err := ledger.PayoutByTxid(ctx, *h, payoutOutputs)
	if errors.Is(err, payout.ErrUnknownPayout) {
		apiError(w, http.StatusNotFound, "no payout with txid "+s)
		return
	}
	if err != nil {
		p.dbFailed(w, "payout", err)
		return
	}
	writeAPI(w, r, 10*time.Second, payoutToJSON(pr, p.chainTip()))
}
