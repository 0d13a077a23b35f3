// Command aditctl is the Adit administration CLI.
//
//	aditctl check-config -config FILE   validate a daemon configuration
//	aditctl status [-http ADDR]          show a running daemon's pool status
//	aditctl blocks|balances|ledger|payouts [-dsn DSN]
//	                                     read blocks, balances, ledger history and
//	                                     payouts from Postgres ($ADIT_DATABASE_DSN)
//	aditctl migrate [-dsn DSN] [up|status]
//	                                     apply or list the schema migrations
//	aditctl sv2-keygen -out FILE         make the Stratum V2 authority key pair
//	aditctl sharelog inspect|ship|skip -dir DIR ...
//	                                     inspect a share log, ship a stopped
//	                                     daemon's log into Postgres, skip a
//	                                     damaged record
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/sv2/keys"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "aditctl:", err)
		os.Exit(1)
	}
}

var usage = `usage: aditctl <command> [flags]

commands:
  check-config -config FILE   validate a daemon configuration
  status [-http ADDR]          show a running daemon's pool status (default 127.0.0.1:8080)
  sv2-keygen -out FILE         write a new Stratum V2 authority secret key to FILE (mode 0600,
                               never overwritten) and print the public key miners configure
` + migrateUsage + sharelogUsage + dbUsage

func run(args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "check-config":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		path := fs.String("config", "", "configuration file")
		if err := fs.Parse(args); err != nil {
			return err
		}
		cfg, err := pool.LoadConfig(*path, getenv)
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
		_, err = fmt.Fprintln(out, "configuration ok")
		return err
	case "status":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		addr := fs.String("http", "127.0.0.1:8080", "the daemon's HTTP address")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return status(*addr, out)
	case "blocks", "balances", "ledger", "payouts":
		return dbCommand(cmd, args, out, getenv)
	case "migrate":
		return migrate(args, out, getenv)
	case "sharelog":
		return sharelogCmd(args, out, getenv)
	case "sv2-keygen":
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		keyPath := fs.String("out", "", "file for the secret key (created with mode 0600)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return sv2Keygen(*keyPath, out)
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(out, usage)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func status(addr string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/pool", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", addr, resp.Status)
	}
	var v map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return fmt.Errorf("decoding status: %w", err)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	_, err = fmt.Fprintln(out, string(b))
	return err
}

// sv2Keygen writes a fresh authority secret key and prints its public key in
// the base58check form Stratum V2 miners and proxies configure.
func sv2Keygen(path string, out io.Writer) error {
	if path == "" {
		return errors.New("sv2-keygen needs -out FILE")
	}
	sk, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		return err
	}
	if err := keys.WriteSecretKeyFile(path, sk); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "secret key written to %s (keep it private; point [sv2] authority_key_file at it)\nauthority public key: %s\n",
		path, sk.PublicKey())
	return err
}
