package pool

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/adit-pool/adit/payout"
	"github.com/adit-pool/adit/share/pgstore"
)

// maxWorkersListed bounds the workers one miner page lists.
const maxWorkersListed = 1000

// minerPage is the JSON body of /api/v1/miners/{address}.
type minerPage struct {
	Address        string `json:"address"`
	PayoutsEnabled bool   `json:"payouts_enabled"`
	// BalanceSats is the ledger's sum for the address (null without payouts).
	BalanceSats   *int64 `json:"balance_sats"`
	ThresholdSats *int64 `json:"threshold_sats"`
	// Hashrate and SharesWindow sum the workers' last ten minutes on this
	// daemon (HashrateSource).
	Hashrate       float64 `json:"hashrate_hs"`
	SharesWindow   int64   `json:"shares_last_10m"`
	HashrateSource string  `json:"hashrate_source"`
	WorkersOnline  int     `json:"workers_online"`
	// Workers are sorted by name, at most maxWorkersListed.
	Workers          []workerJSON        `json:"workers"`
	WorkersTruncated bool                `json:"workers_truncated"`
	Ledger           []ledgerEntry       `json:"ledger"`
	LedgerNext       *string             `json:"ledger_next"`
	Payouts          []addressPayoutJSON `json:"payouts"`
	PayoutsNext      *string             `json:"payouts_next"`
}

// workerJSON is one worker of a miner.
type workerJSON struct {
	Name string `json:"name"`
	// State: active (connected, a share in the last ten minutes), idle
	// (connected, no recent share), offline (not connected to this daemon).
	State     string   `json:"state"`
	Protocols []string `json:"protocols"`
	// Sessions are its open V1 sessions and V2 channels.
	Sessions  int        `json:"sessions"`
	Hashrate  float64    `json:"hashrate_hs"`
	Shares    int64      `json:"shares_last_10m"`
	LastShare *time.Time `json:"last_share"`
	FirstSeen *time.Time `json:"first_seen"`
}

type ledgerEntry struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Sats      int64     `json:"sats"`
	BlockHash string    `json:"block_hash,omitempty"`
	PayoutID  *int64    `json:"payout_id,omitempty"`
	Time      time.Time `json:"time"`
}

// addressPayoutJSON is one payment to a miner.
type addressPayoutJSON struct {
	PayoutID        int64      `json:"payout_id"`
	Txid            string     `json:"txid"`
	Vout            uint32     `json:"vout"`
	Status          string     `json:"status"`
	Confirmations   int64      `json:"confirmations"`
	AmountSats      int64      `json:"amount_sats"`
	SettledSats     int64      `json:"settled_sats"`
	CreatedAt       time.Time  `json:"created_at"`
	ConfirmedHeight *int64     `json:"confirmed_height"`
	ConfirmedAt     *time.Time `json:"confirmed_at"`
}

func ledgerJSON(es []payout.Entry) []ledgerEntry {
	out := make([]ledgerEntry, 0, len(es))
	for _, e := range es {
		le := ledgerEntry{ID: e.ID, Kind: e.Kind, Sats: e.Sats, PayoutID: e.PayoutID, Time: e.Time.UTC()}
		if len(e.BlockHash) == 32 {
			le.BlockHash = displayHash([32]byte(e.BlockHash))
		}
		out = append(out, le)
	}
	return out
}

func addressPayoutsJSON(ps []payout.AddressPayout, tip int64) []addressPayoutJSON {
	out := make([]addressPayoutJSON, 0, len(ps))
	for _, a := range ps {
		out = append(out, addressPayoutJSON{
			PayoutID: a.PayoutID, Txid: displayHash(a.Txid), Vout: a.Vout, Status: a.Status,
			Confirmations: confirmations(a.Status == "confirmed", a.ConfirmedHeight, tip),
			AmountSats:    a.AmountSats, SettledSats: a.SettledSats, CreatedAt: a.CreatedAt.UTC(),
			ConfirmedHeight: a.ConfirmedHeight, ConfirmedAt: a.ConfirmedAt,
		})
	}
	return out
}

// minerLink is the path of a miner sub-resource.
func minerLink(addr, sub string, limit int, before int64) *string {
	s := "/api/v1/miners/" + url.PathEscape(addr) + "/" + sub + "?limit=" + strconv.Itoa(limit) +
		"&before=" + strconv.FormatInt(before, 10)
	return &s
}

// minerRequest validates the address and the page of a miner endpoint; ok
// false means the error has been answered.
func (p *Pool) minerRequest(w http.ResponseWriter, r *http.Request) (addr string, pg page, before int64, ok bool) {
	addr = r.PathValue("address")
	if err := p.validAddress(addr); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return "", pg, 0, false
	}
	pg, err := parsePage(r.URL.Query(), defaultPage)
	if err == nil {
		before, err = parseID(pg.before)
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return "", pg, 0, false
	}
	return addr, pg, before, true
}

func (p *Pool) minersHandler(w http.ResponseWriter, r *http.Request) {
	addr, pg, before, ok := p.minerRequest(w, r)
	if !ok {
		return
	}
	if before != 0 {
		apiError(w, http.StatusBadRequest, "before pages the ledger or payouts: use "+
			"/api/v1/miners/{address}/ledger or /api/v1/miners/{address}/payouts")
		return
	}
	now := time.Now()
	out := minerPage{Address: addr, HashrateSource: "memory", Ledger: []ledgerEntry{}, Payouts: []addressPayoutJSON{}}
	ctx, cancel := apiContext(r)
	defer cancel()
	var seen []pgstore.WorkerSeen
	if db := p.storage.api; db != nil {
		var err error
		if seen, err = pgstore.Workers(ctx, db, addr, maxWorkersListed+1); err != nil {
			p.dbFailed(w, "workers", err)
			return
		}
	}
	out.Workers, out.WorkersTruncated = mergeWorkers(p.workers.workers(addr, now), seen, now)
	for _, wk := range out.Workers {
		out.Hashrate += wk.Hashrate
		out.SharesWindow += wk.Shares
		if wk.Sessions > 0 {
			out.WorkersOnline++
		}
	}
	if ledger := p.storage.ledger; ledger != nil {
		out.PayoutsEnabled = true
		th := p.cfg.Payout.ThresholdSats
		out.ThresholdSats = &th
		bal, err := ledger.Balance(ctx, addr)
		if err != nil {
			p.dbFailed(w, "balance", err)
			return
		}
		out.BalanceSats = &bal
		hist, err := ledger.HistoryPage(ctx, addr, 0, pg.limit)
		if err != nil {
			p.dbFailed(w, "ledger", err)
			return
		}
		out.Ledger = ledgerJSON(hist)
		if n := len(hist); n == pg.limit {
			out.LedgerNext = minerLink(addr, "ledger", pg.limit, hist[n-1].ID)
		}
		pays, err := ledger.AddressPayouts(ctx, addr, 0, pg.limit)
		if err != nil {
			p.dbFailed(w, "payouts", err)
			return
		}
		out.Payouts = addressPayoutsJSON(pays, p.chainTip())
		if n := len(pays); n == pg.limit {
			out.PayoutsNext = minerLink(addr, "payouts", pg.limit, pays[n-1].PayoutID)
		}
	}
	writeAPI(w, r, 10*time.Second, out)
}

// mergeWorkers joins what this daemon knows of an address's workers with
// the workers table (all instances, since retention), sorted by name and
// cut at maxWorkersListed.
func mergeWorkers(mem []workerState, seen []pgstore.WorkerSeen, now time.Time) ([]workerJSON, bool) {
	byName := make(map[string]*workerJSON, len(mem)+len(seen))
	for _, m := range mem {
		wj := &workerJSON{Name: m.Name, Protocols: m.Protocols, Sessions: m.Sessions, Hashrate: m.Hashrate, Shares: m.Shares}
		if !m.LastShare.IsZero() {
			t := m.LastShare.UTC().Truncate(time.Microsecond) // as Postgres keeps times
			wj.LastShare = &t
		}
		if !m.FirstSeen.IsZero() {
			t := m.FirstSeen.UTC().Truncate(time.Microsecond)
			wj.FirstSeen = &t
		}
		byName[m.Name] = wj
	}
	for _, s := range seen {
		wj := byName[s.Name]
		if wj == nil {
			wj = &workerJSON{Name: s.Name, Protocols: []string{}}
			byName[s.Name] = wj
		}
		if t := s.LastSeen.UTC(); wj.LastShare == nil || t.After(*wj.LastShare) {
			wj.LastShare = &t
		}
		if t := s.FirstSeen.UTC(); wj.FirstSeen == nil || t.Before(*wj.FirstSeen) {
			wj.FirstSeen = &t
		}
	}
	out := make([]workerJSON, 0, len(byName))
	for _, wj := range byName {
		switch {
		case wj.Sessions == 0:
			wj.State = "offline"
		case wj.LastShare != nil && now.Sub(*wj.LastShare) <= workerForget:
			wj.State = "active"
		default:
			wj.State = "idle"
		}
		out = append(out, *wj)
	}
	slices.SortFunc(out, func(a, b workerJSON) int { return strings.Compare(a.Name, b.Name) })
	if len(out) > maxWorkersListed {
		return out[:maxWorkersListed], true
	}
	return out, false
}

// ledgerPage is the JSON body of /api/v1/miners/{address}/ledger.
type ledgerPage struct {
	Address string        `json:"address"`
	Ledger  []ledgerEntry `json:"ledger"`
	Next    *string       `json:"next"`
}

func (p *Pool) minerLedgerHandler(w http.ResponseWriter, r *http.Request) {
	addr, pg, before, ok := p.minerRequest(w, r)
	if !ok {
		return
	}
	ledger := p.storage.ledger
	if ledger == nil {
		noPayouts(w)
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	hist, err := ledger.HistoryPage(ctx, addr, before, pg.limit)
	if err != nil {
		p.dbFailed(w, "ledger", err)
		return
	}
	out := ledgerPage{Address: addr, Ledger: ledgerJSON(hist)}
	if n := len(hist); n > 0 {
		out.Next = nextURL(r, n, pg.limit, strconv.FormatInt(hist[n-1].ID, 10))
	}
	writeAPI(w, r, 10*time.Second, out)
}

// minerPayoutsPage is the JSON body of /api/v1/miners/{address}/payouts.
type minerPayoutsPage struct {
	Address string              `json:"address"`
	Payouts []addressPayoutJSON `json:"payouts"`
	Next    *string             `json:"next"`
}

func (p *Pool) minerPayoutsHandler(w http.ResponseWriter, r *http.Request) {
	addr, pg, before, ok := p.minerRequest(w, r)
	if !ok {
		return
	}
	ledger := p.storage.ledger
	if ledger == nil {
		noPayouts(w)
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	pays, err := ledger.AddressPayouts(ctx, addr, before, pg.limit)
	if err != nil {
		p.dbFailed(w, "payouts", err)
		return
	}
	out := minerPayoutsPage{Address: addr, Payouts: addressPayoutsJSON(pays, p.chainTip())}
	if n := len(pays); n > 0 {
		out.Next = nextURL(r, n, pg.limit, strconv.FormatInt(pays[n-1].PayoutID, 10))
	}
	writeAPI(w, r, 10*time.Second, out)
}

// minerStatus is the JSON body of /api/v1/miner/{address}, the original
// miner endpoint: balance and the last 100 ledger rows.
type minerStatus struct {
	Address      string        `json:"address"`
	BalanceSats  int64         `json:"balance_sats"`
	LedgerRecent []ledgerEntry `json:"ledger_recent"`
}

func (p *Pool) minerHandler(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("address")
	if err := p.validAddress(addr); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	ledger := p.storage.ledger
	if ledger == nil {
		noPayouts(w)
		return
	}
	ctx, cancel := apiContext(r)
	defer cancel()
	bal, err := ledger.Balance(ctx, addr)
	if err != nil {
		p.dbFailed(w, "balance", err)
		return
	}
	hist, err := ledger.History(ctx, addr, 100)
	if err != nil {
		p.dbFailed(w, "ledger", err)
		return
	}
	writeAPI(w, r, 10*time.Second, minerStatus{Address: addr, BalanceSats: bal, LedgerRecent: ledgerJSON(hist)})
}
