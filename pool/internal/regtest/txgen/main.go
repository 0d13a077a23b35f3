// Command txgen makes transactions on one regtest node for `make run`: each
// mature coinbase paying the harness key (regtest.TestKey, btcd's
// --miningaddr in deploy/regtest) is spent back to that key, once, into the
// node's mempool. Run against the Job Declaration miner's own node while the
// pool's node takes no relayed transactions (--blocksonly), it gives the
// miner's templates transactions the pool's node does not have: the JDS
// asks for them with ProvideMissingTransactions, and they reach the pool's
// chain in the miner's blocks.
//
// Regtest only: the key is public.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
)

func main() {
	url := flag.String("node-url", "", "the node's RPC URL")
	user := flag.String("node-user", "", "RPC user (password from $ADIT_NODE_PASS)")
	every := flag.Duration("interval", 3*time.Second, "how often to look for newly matured coinbases")
	fee := flag.Int64("fee", 5_000, "fee per transaction, sats")
	flag.Parse()
	if err := run(*url, *user, os.Getenv("ADIT_NODE_PASS"), *every, *fee); err != nil {
		fmt.Fprintln(os.Stderr, "txgen:", err)
		os.Exit(1)
	}
}

func run(url, user, pass string, every time.Duration, fee int64) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := node.New(node.Config{Name: "own", URL: url, User: user, Password: pass}, nil, nil)
	if err != nil {
		return err
	}
	key, _, script := regtest.TestKey()
	signer := &regtest.Node{MiningKey: key, MiningScript: script}
	next := int64(1) // the next height whose coinbase is looked at
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		tip, err := c.GetBlockCount(ctx)
		for ; err == nil && next <= tip-100; next++ { // coinbase maturity: 100 blocks
			cb, err := signer.Coinbase(ctx, c, next)
			if err != nil {
				break
			}
			if !bytes.Equal(cb.TxOut[0].PkScript, script) {
				continue // a pool block
			}
			tx, err := signer.Spend(cb, 0, fee)
			if err == nil {
				_, err = regtest.Broadcast(ctx, c, tx)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "txgen: spend coinbase %d: %v\n", next, err)
				continue
			}
			fmt.Printf("%s tx %s spends the coinbase of block %d\n", time.Now().Format(time.TimeOnly), tx.TxHash(), next)
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "txgen: %v\n", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
