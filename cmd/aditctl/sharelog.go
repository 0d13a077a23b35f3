package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/pgstore"
	"github.com/adit-pool/adit/share/sharelog"
)

const sharelogUsage = `  sharelog inspect -dir DIR [-dsn DSN]
                               a share log's segments (bytes, records, ids, times), instances and
                               where reading stops (clean end, torn tail, damaged record); with a
                               database also the shipped position and the records not yet in
                               Postgres. Safe while the daemon runs; exit status 1 when a record
                               in the middle of the log is damaged
  sharelog ship -dir DIR [-dsn DSN] [-instance NAME] [-timeout D]
                               ship the log of a stopped daemon (a retired host) into Postgres,
                               exactly once, then stop; -instance, if given, must be the log's
  sharelog skip -dir DIR -at SEGMENT:OFFSET [-dsn DSN] [-instance NAME] -yes
                               with the daemon stopped, move a shipped position stuck at
                               SEGMENT:OFFSET before a damaged record to the next intact record;
                               the shares in between are lost, printed and recorded in the
                               sharelog_skips table. Without -yes it only shows what it would skip
`

// timeFormat prints share times.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// sharelogCmd runs `aditctl sharelog <action>`.
func sharelogCmd(args []string, out io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New("sharelog: want an action: inspect, ship or skip\n" + sharelogUsage)
	}
	action, args := args[0], args[1:]
	switch action {
	case "inspect":
		return sharelogInspect(args, out, getenv)
	case "ship":
		return sharelogShip(args, out, getenv)
	case "skip":
		return sharelogSkip(args, out, getenv)
	}
	return fmt.Errorf("sharelog: unknown action %q (want inspect, ship or skip)", action)
}

// parseFlags parses args into fs and refuses positional arguments and a
// missing -dir.
func parseFlags(fs *flag.FlagSet, args []string, dir *string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sharelog %s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	if *dir == "" {
		return fmt.Errorf("sharelog %s: -dir is required", fs.Name())
	}
	return nil
}

// logDir returns the id and segments of the share log in dir, refusing a
// directory that holds none (a mistyped path must not look like an empty
// log, nor become one).
func logDir(dir string) (string, []sharelog.SegmentFile, error) {
	id, segs, err := sharelog.Segments(dir)
	if err != nil {
		return "", nil, err
	}
	if len(segs) == 0 {
		return "", nil, fmt.Errorf("no share log in %s (no segment files)", dir)
	}
	return id, segs, nil
}

// parsePosition parses SEGMENT:OFFSET.
func parsePosition(s string) (sharelog.Position, error) {
	seg, off, ok := strings.Cut(s, ":")
	if !ok {
		return sharelog.Position{}, fmt.Errorf("position %q: want SEGMENT:OFFSET", s)
	}
	n, err := strconv.ParseUint(seg, 10, 63)
	if err != nil {
		return sharelog.Position{}, fmt.Errorf("position %q: segment: %w", s, err)
	}
	o, err := strconv.ParseInt(off, 10, 64)
	if err != nil || o < 0 {
		return sharelog.Position{}, fmt.Errorf("position %q: offset must be a non-negative integer", s)
	}
	return sharelog.Position{Segment: n, Offset: o}, nil
}

// cliLogger logs warnings and errors (the shipper's retries, a torn tail
// cut off on open) to out. Its writes are serialised: the shipper logs
// from several goroutines.
func cliLogger(out io.Writer) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.TimeKey = ""
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(out)), zap.WarnLevel)
	return zap.New(core)
}

// openStopped opens the log in dir for writing as the daemon would (a torn
// tail of the newest segment is cut off and kept aside), which takes the
// directory's lock: it fails, saying so, while a daemon has the log open,
// and no daemon can start on it until the log is closed. Nothing is
// appended and no segment is deleted (retention is infinite here; the
// daemon's janitor deletes shipped segments by its own settings).
func openStopped(dir, instance string, log *zap.Logger) (*sharelog.Log, error) {
	l, err := sharelog.Open(dir, sharelog.Config{
		Instance:     instance,
		Retention:    time.Duration(math.MaxInt64),
		MinFreeBytes: -1,
	}, log, nil)
	if errors.Is(err, sharelog.ErrLocked) {
		return nil, fmt.Errorf("%w: stop the daemon that uses it first (inspect works while it runs)", err)
	}
	return l, err
}

// storedPos is an instance's row of sharelog_positions.
type storedPos struct {
	logID  string
	pos    sharelog.Position
	lastID uint64
}

// loadPositions returns every instance's stored shipped position (one row
// per instance: a small table).
func loadPositions(ctx context.Context, db *pgxpool.Pool) (map[string]storedPos, error) {
	rows, err := db.Query(ctx, `SELECT instance, log_id, segment, seg_offset, last_id FROM sharelog_positions`)
	if err != nil {
		return nil, fmt.Errorf("shipped positions: %w", err)
	}
	ps := make(map[string]storedPos)
	var (
		inst, logID      string
		seg, off, lastID int64
	)
	_, err = pgx.ForEachRow(rows, []any{&inst, &logID, &seg, &off, &lastID}, func() error {
		ps[inst] = storedPos{logID: logID, pos: sharelog.Position{Segment: uint64(seg), Offset: off}, lastID: uint64(lastID)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shipped positions: %w", err)
	}
	return ps, nil
}

// damage is a damaged record a walk met in the middle of the log.
type damage struct {
	at     sharelog.Position // where the damaged record starts
	after  sharelog.Position // just past the last intact record before it (or the walk's start)
	reason string
	// resume is where sharelog.NextIntact resumes after it, valid when
	// resumeErr is nil.
	resume    sharelog.Position
	resumeErr error
}

// walkEnd is what an offline walk of a log found.
type walkEnd struct {
	end     sharelog.Position // just past the last record read
	torn    int64             // bytes of a torn tail at end (0: a clean end)
	damages []damage
}

// walkLog reads the log in dir offline (no lock, nothing changed) from
// `from`, calling visit with each record and the position just past it
// until visit returns false. At a damaged record in the middle of the log
// it records the damage and stops or, with resume, goes on at the next
// intact record (sharelog.NextIntact). A log the daemon is writing is read
// until a pass finds nothing new; a torn tail then may be a write in
// progress.
func walkLog(dir string, from sharelog.Position, resume bool, visit func(*share.Record, sharelog.Position) bool) (walkEnd, error) {
	w := walkEnd{end: from}
	for {
		n, stopped, err := walkOnce(dir, from, &w, visit)
		var ce *sharelog.CorruptError
		switch {
		case stopped:
			return w, nil
		case errors.As(err, &ce):
			d := damage{at: ce.Pos, after: w.end, reason: ce.Reason}
			d.resume, d.resumeErr = sharelog.NextIntact(dir, ce.Pos)
			w.damages = append(w.damages, d)
			if !resume || d.resumeErr != nil {
				return w, nil
			}
			from, w.end = d.resume, d.resume
		case err != nil:
			return w, err
		case n == 0:
			w.torn, err = tornBytes(dir, w.end)
			return w, err
		default:
			from = w.end // the daemon may have appended meanwhile
		}
	}
}

// walkOnce is one reader's pass of walkLog: it returns how many records it
// read, whether visit stopped it, and the reader's error.
func walkOnce(dir string, from sharelog.Position, w *walkEnd, visit func(*share.Record, sharelog.Position) bool) (int, bool, error) {
	r, err := sharelog.OpenReader(dir, from, nil)
	if err != nil {
		return 0, false, err
	}
	defer r.Close()
	var rec share.Record
	for n := 0; ; n++ {
		ok, err := r.Next(&rec)
		if err != nil || !ok {
			return n, false, err
		}
		w.end = r.Position()
		if !visit(&rec, w.end) {
			return n + 1, true, nil
		}
	}
}

// tornBytes is how many bytes of the newest segment lie after end.
func tornBytes(dir string, end sharelog.Position) (int64, error) {
	_, segs, err := sharelog.Segments(dir)
	if err != nil || len(segs) == 0 {
		return 0, err
	}
	last := segs[len(segs)-1]
	if last.Seq != end.Segment || last.Size <= end.Offset {
		return 0, nil
	}
	return last.Size - end.Offset, nil
}

// segStats sums up the records of one segment.
type segStats struct {
	records             int
	firstID, lastID     uint64
	firstTime, lastTime time.Time
}

func (s *segStats) add(rec *share.Record) {
	if s.records == 0 {
		s.firstID, s.firstTime = rec.ID, rec.Time
	}
	s.records++
	s.lastID, s.lastTime = rec.ID, rec.Time
}

// instanceStats counts one instance's records, and those after its
// shipped position.
type instanceStats struct {
	records, pending int
}

// sharelogInspect prints what is in a share log and, with a database, how
// far it is shipped. It returns an error (exit status 1) when a record in
// the middle of the log is damaged.
func sharelogInspect(args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	dir := fs.String("dir", "", "share log directory")
	dsn := dbFlags(fs)
	if err := parseFlags(fs, args, dir); err != nil {
		return err
	}
	logID, _, err := logDir(*dir)
	if err != nil {
		return err
	}
	var positions map[string]storedPos // nil: no database
	if *dsn != "" || getenv("ADIT_DATABASE_DSN") != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := openDB(ctx, *dsn, getenv)
		if err != nil {
			return err
		}
		positions, err = loadPositions(ctx, db)
		db.Close()
		if err != nil {
			return err
		}
	}
	segs := make(map[uint64]*segStats)
	insts := make(map[string]*instanceStats)
	w, err := walkLog(*dir, sharelog.Position{}, true, func(rec *share.Record, end sharelog.Position) bool {
		s := segs[end.Segment]
		if s == nil {
			s = &segStats{}
			segs[end.Segment] = s
		}
		s.add(rec)
		is := insts[rec.Instance]
		if is == nil {
			is = &instanceStats{}
			insts[rec.Instance] = is
		}
		is.records++
		if p, ok := positions[rec.Instance]; !ok || p.logID != logID || p.pos.Less(end) {
			is.pending++
		}
		return true
	})
	if err != nil {
		return err
	}
	_, files, err := sharelog.Segments(*dir) // again: the log may have grown
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "share log %s, log id %s\n", *dir, logID)
	if err := printSegments(out, files, segs); err != nil {
		return err
	}
	printEnd(out, w)
	printInstances(out, insts, positions, logID)
	if n := printDamages(out, *dir, w.damages, insts, positions, logID); n > 0 {
		return fmt.Errorf("share log %s: %d damaged record(s) in the middle of the log", *dir, n)
	}
	return nil
}

func printSegments(out io.Writer, files []sharelog.SegmentFile, segs map[uint64]*segStats) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tBYTES\tRECORDS\tFIRST_ID\tLAST_ID\tFIRST_TIME\tLAST_TIME")
	for _, f := range files {
		s := segs[f.Seq]
		if s == nil || s.records == 0 {
			fmt.Fprintf(tw, "%d\t%d\t0\t-\t-\t-\t-\n", f.Seq, f.Size)
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%s\n", f.Seq, f.Size, s.records, s.firstID, s.lastID,
			s.firstTime.UTC().Format(timeFormat), s.lastTime.UTC().Format(timeFormat))
	}
	return tw.Flush()
}

func printEnd(out io.Writer, w walkEnd) {
	if w.torn > 0 {
		fmt.Fprintf(out, "end: torn tail at %v: %d bytes after the last intact record (never shipped; the daemon cuts "+
			"them off when it opens the log, keeping them in a .torn file; while it runs this may be a write in progress)\n",
			w.end, w.torn)
		return
	}
	fmt.Fprintf(out, "end: clean at %v\n", w.end)
}

func printInstances(out io.Writer, insts map[string]*instanceStats, positions map[string]storedPos, logID string) {
	names := make([]string, 0, len(insts))
	for name := range insts {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintln(out, "instances: none (no records)")
	}
	for _, name := range names {
		is := insts[name]
		fmt.Fprintf(out, "instance %q: %d records\n", name, is.records)
		if positions == nil {
			continue
		}
		p, ok := positions[name]
		switch {
		case !ok:
			fmt.Fprintf(out, "  shipped: nothing (no position stored); %d records not yet in Postgres\n", is.pending)
		case p.logID != logID:
			fmt.Fprintf(out, "  shipped: the stored position %v belongs to another log directory (log id %s); "+
				"a shipper starts this log from its beginning: %d records not yet in Postgres\n", p.pos, p.logID, is.pending)
		default:
			fmt.Fprintf(out, "  shipped: position %v, last id %d; %d records not yet in Postgres\n", p.pos, p.lastID, is.pending)
		}
	}
}

// printDamages describes each damaged record and returns how many are
// still in the way: not yet skipped by every instance's stored position
// (without a database, all of them).
func printDamages(out io.Writer, dir string, ds []damage, insts map[string]*instanceStats, positions map[string]storedPos, logID string) int {
	open := 0
	for _, d := range ds {
		fmt.Fprintf(out, "DAMAGED record at %v: %s\n", d.at, d.reason)
		if d.resumeErr != nil {
			fmt.Fprintf(out, "  no resume point: %v\n", d.resumeErr)
			open++
			continue
		}
		if damageSkipped(d, insts, positions, logID) {
			fmt.Fprintf(out, "  intact records resume at %v; already skipped (the shipped position is past it)\n", d.resume)
			continue
		}
		open++
		fmt.Fprintf(out, "  intact records resume at %v; shipping stops before it until it is skipped\n", d.resume)
		for name := range insts {
			if p, ok := positions[name]; ok && p.logID == logID && (p.pos == d.at || p.pos == d.after) {
				fmt.Fprintf(out, "  instance %q is stuck here: aditctl sharelog skip -dir %s -at %v -yes\n", name, dir, p.pos)
			}
		}
	}
	return open
}

// damageSkipped reports whether every instance of the log has a stored
// position for this log at or past where reading resumes after d.
func damageSkipped(d damage, insts map[string]*instanceStats, positions map[string]storedPos, logID string) bool {
	if positions == nil {
		return false
	}
	for name := range insts {
		p, ok := positions[name]
		if !ok || p.logID != logID || p.pos.Less(d.resume) {
			return false
		}
	}
	return true
}

// sharelogShip ships a stopped daemon's log into Postgres and stops.
func sharelogShip(args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("ship", flag.ContinueOnError)
	dir := fs.String("dir", "", "share log directory")
	dsn := dbFlags(fs)
	instFlag := fs.String("instance", "", "the instance the records must name (default: whichever they name)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := parseFlags(fs, args, dir); err != nil {
		return err
	}
	logID, _, err := logDir(*dir)
	if err != nil {
		return err
	}
	instance, err := recordInstance(*dir, *instFlag)
	if err != nil {
		return err
	}
	if instance == "" {
		_, err := fmt.Fprintf(out, "share log %s holds no records: nothing to ship\n", *dir)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	db, err := openDB(ctx, *dsn, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	log := cliLogger(out)
	l, err := openStopped(*dir, instance, log)
	if err != nil {
		return err
	}
	defer l.Close()
	positions, err := loadPositions(ctx, db)
	if err != nil {
		return err
	}
	var start sharelog.Position // a log Postgres has not seen ships from its start
	if p, ok := positions[instance]; ok && p.logID == logID {
		start = p.pos
	}
	n, firstID, lastID := 0, uint64(0), uint64(0)
	w, err := walkLog(*dir, start, false, func(rec *share.Record, _ sharelog.Position) bool {
		if n == 0 {
			firstID = rec.ID
		}
		n, lastID = n+1, rec.ID
		return true
	})
	if err != nil {
		return fmt.Errorf("reading from the shipped position %v: %w", start, err)
	}
	if n > 0 {
		if err := shipUntil(ctx, db, l, instance, w.end, log); err != nil {
			return fmt.Errorf("shipping %d records from %v to %v: %w", n, start, w.end, err)
		}
		fmt.Fprintf(out, "shipped %d records of instance %q (ids %d..%d); Postgres has the log up to %v\n",
			n, instance, firstID, lastID, w.end)
	} else {
		fmt.Fprintf(out, "nothing to ship: Postgres has every record of instance %q up to %v\n", instance, w.end)
	}
	if len(w.damages) > 0 {
		d := w.damages[0]
		return fmt.Errorf("damaged record at %v (%s) stops shipping; see aditctl sharelog inspect and skip", d.at, d.reason)
	}
	return nil
}

// recordInstance returns the one instance the records in dir name (want,
// if given, must be it). A log of several instances is refused: the
// daemon no longer opens such a log, and neither can a shipper. It returns
// "" for a log without records.
func recordInstance(dir, want string) (string, error) {
	seen := make(map[string]bool)
	if _, err := walkLog(dir, sharelog.Position{}, true, func(rec *share.Record, _ sharelog.Position) bool {
		seen[rec.Instance] = true
		return true
	}); err != nil {
		return "", err
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	switch {
	case len(names) == 0:
		return "", nil
	case len(names) > 1:
		// Written by a daemon renamed on its directory before aditd
		// refused that: one shipper cannot ship one instance's records
		// past another's.
		return "", fmt.Errorf("share log %s holds records of several instances %q; it cannot be shipped as one", dir, names)
	case want != "" && !seen[want]:
		return "", fmt.Errorf("share log %s holds no records of instance %q, only of %q", dir, want, names)
	}
	return names[0], nil
}

// shipUntil runs a Shipper on l until Postgres has every record before
// target, then stops it. Its exactly-once position logic is all that
// guards against duplicates. Partitions are created as needed but never
// dropped (retention is the daemon's business).
func shipUntil(ctx context.Context, db *pgxpool.Pool, l *sharelog.Log, instance string, target sharelog.Position, log *zap.Logger) error {
	sh, err := pgstore.NewShipper(db, l, instance, pgstore.Config{Retention: -1}, log, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if pos, _ := sh.Shipped(); !pos.Less(target) {
			cancel()
			return <-done
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			err := <-done
			pos, _ := sh.Shipped()
			return errors.Join(fmt.Errorf("gave up at %v: %w", pos, context.Cause(ctx)), err)
		}
	}
}

// sharelogSkip moves an instance's shipped position past a damaged record.
//
// The instance is the one whose stored position names this log directory
// (its log id), or -instance. The daemon must be stopped (the log's lock
// is taken). The stored position must be exactly -at, and reading from it
// must meet a damaged record before any intact one; the position then
// moves, in one conditional UPDATE together with an audit row in
// sharelog_skips, to where sharelog.NextIntact resumes.
func sharelogSkip(args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("skip", flag.ContinueOnError)
	dir := fs.String("dir", "", "share log directory")
	atFlag := fs.String("at", "", "the shipped position stuck before the damage, SEGMENT:OFFSET")
	dsn := dbFlags(fs)
	instFlag := fs.String("instance", "", "instance (default: the one whose stored position is in this log)")
	yes := fs.Bool("yes", false, "really move the position (without: only show what would be skipped)")
	if err := parseFlags(fs, args, dir); err != nil {
		return err
	}
	if *atFlag == "" {
		return errors.New("sharelog skip: -at SEGMENT:OFFSET is required")
	}
	at, err := parsePosition(*atFlag)
	if err != nil {
		return err
	}
	logID, _, err := logDir(*dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := openDB(ctx, *dsn, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	positions, err := loadPositions(ctx, db)
	if err != nil {
		return err
	}
	instance, stored, err := skipInstance(positions, *instFlag, logID)
	if err != nil {
		return err
	}
	if stored.pos != at {
		return fmt.Errorf("instance %q's shipped position is %v, not %v: nothing changed", instance, stored.pos, at)
	}
	l, err := openStopped(*dir, instance, cliLogger(out))
	if err != nil {
		return err
	}
	defer l.Close()
	plan, err := planSkip(*dir, at, stored)
	if err != nil {
		return err
	}
	plan.print(out, instance)
	if !*yes {
		return errors.New("dry run, nothing changed: re-run with -yes to skip")
	}
	if err := applySkip(ctx, db, instance, logID, plan); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "skipped: instance %q's shipped position moved from %v to %v (recorded in sharelog_skips); "+
		"start the daemon or run aditctl sharelog ship to ship the rest\n", instance, at, plan.d.resume)
	return err
}

// skipInstance picks the instance whose position to move: -instance, or
// the one instance whose stored position belongs to this log directory.
func skipInstance(positions map[string]storedPos, instance, logID string) (string, storedPos, error) {
	if instance != "" {
		p, ok := positions[instance]
		if !ok {
			return "", p, fmt.Errorf("instance %q has no shipped position stored", instance)
		}
		if p.logID != logID {
			return "", p, fmt.Errorf("instance %q's stored position belongs to log %s, not this one (%s)", instance, p.logID, logID)
		}
		return instance, p, nil
	}
	var names []string
	for name, p := range positions {
		if p.logID == logID {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
		return "", storedPos{}, fmt.Errorf("no shipped position stored for log %s", logID)
	case 1:
		return names[0], positions[names[0]], nil
	}
	return "", storedPos{}, fmt.Errorf("several instances %q have positions in log %s: pass -instance", names, logID)
}

// skipPlan is what a skip would do.
type skipPlan struct {
	from     sharelog.Position // the stored position
	lastGood uint64            // the last record shipped before the damage
	d        damage
	bytes    int64 // damaged bytes skipped
	next     *share.Record
	// nextDamage: the first record read at the resume point is damaged too.
	nextDamage *damage
}

// planSkip checks that reading from the stored position at meets a damaged
// record before any intact one, and finds where to resume.
func planSkip(dir string, at sharelog.Position, stored storedPos) (*skipPlan, error) {
	intact := false
	w, err := walkLog(dir, at, false, func(*share.Record, sharelog.Position) bool {
		intact = true
		return false
	})
	if err != nil {
		return nil, err
	}
	if intact {
		return nil, fmt.Errorf("the record at %v is intact: the shipper is not stuck there, nothing changed", at)
	}
	if len(w.damages) == 0 {
		return nil, fmt.Errorf("no damaged record after %v (a damaged tail of the newest segment is cut off when the log opens, not skipped): nothing changed", at)
	}
	p := &skipPlan{from: at, lastGood: stored.lastID, d: w.damages[0]}
	if p.d.resumeErr != nil {
		return nil, fmt.Errorf("damaged record at %v: %w: nothing changed", p.d.at, p.d.resumeErr)
	}
	if p.bytes, err = spanBytes(dir, p.d.at, p.d.resume); err != nil {
		return nil, err
	}
	nw, err := walkLog(dir, p.d.resume, false, func(rec *share.Record, _ sharelog.Position) bool {
		r := *rec
		p.next = &r
		return false
	})
	if err != nil {
		return nil, err
	}
	if p.next == nil && len(nw.damages) > 0 {
		p.nextDamage = &nw.damages[0]
	}
	return p, nil
}

// spanBytes is the number of bytes from a to b, b being in a's segment or
// the start of the next.
func spanBytes(dir string, a, b sharelog.Position) (int64, error) {
	if a.Segment == b.Segment {
		return b.Offset - a.Offset, nil
	}
	_, segs, err := sharelog.Segments(dir)
	if err != nil {
		return 0, err
	}
	for _, s := range segs {
		if s.Seq == a.Segment {
			return s.Size - a.Offset, nil
		}
	}
	return 0, fmt.Errorf("segment %d is gone", a.Segment)
}

func (p *skipPlan) print(out io.Writer, instance string) {
	fmt.Fprintf(out, "instance %q: shipped position %v, last shipped id %d\n", instance, p.from, p.lastGood)
	fmt.Fprintf(out, "damaged record at %v: %s\n", p.d.at, p.d.reason)
	end := fmt.Sprintf("%v", p.d.resume)
	if p.d.resume.Segment != p.d.at.Segment {
		end = fmt.Sprintf("the end of segment %d", p.d.at.Segment)
	}
	fmt.Fprintf(out, "skip: bytes %v to %s (%d bytes), resuming at %v\n", p.d.at, end, p.bytes, p.d.resume)
	switch {
	case p.next != nil:
		fmt.Fprintf(out, "lost: %s between the last good record %d and the next good record %d (%s, worker %s.%s)\n",
			idRange(p.lastGood+1, p.next.ID-1), p.lastGood, p.next.ID,
			p.next.Time.UTC().Format(timeFormat), p.next.Worker.Address, p.next.Worker.Name)
	case p.nextDamage != nil:
		fmt.Fprintf(out, "lost: ids after %d; the record at %v is damaged as well (%s): skip it next\n",
			p.lastGood, p.nextDamage.at, p.nextDamage.reason)
	default:
		fmt.Fprintf(out, "lost: ids after %d; no record follows yet\n", p.lastGood)
	}
}

// idRange describes the ids lo..hi.
func idRange(lo, hi uint64) string {
	switch {
	case hi < lo:
		return "no ids"
	case hi == lo:
		return fmt.Sprintf("id %d (1 share)", lo)
	}
	return fmt.Sprintf("ids %d..%d (%d shares)", lo, hi, hi-lo+1)
}

// applySkip moves the stored position from p.from to p.d.resume, only if
// it is still p.from, and writes the audit row, in one transaction.
func applySkip(ctx context.Context, db *pgxpool.Pool, instance, logID string, p *skipPlan) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sharelog_positions SET segment = $3, seg_offset = $4, updated_at = now()
			WHERE instance = $1 AND log_id = $2 AND segment = $5 AND seg_offset = $6`,
			instance, logID, int64(p.d.resume.Segment), p.d.resume.Offset, int64(p.from.Segment), p.from.Offset)
		if err != nil {
			return fmt.Errorf("moving the shipped position: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("instance %q's shipped position is no longer %v (a shipper running?): nothing changed", instance, p.from)
		}
		var nextID *int64
		if p.next != nil {
			id := int64(p.next.ID)
			nextID = &id
		}
		_, err = tx.Exec(ctx, `INSERT INTO sharelog_skips (instance, log_id, from_segment, from_offset, to_segment, to_offset,
				damage_segment, damage_offset, reason, last_good_id, next_good_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			instance, logID, int64(p.from.Segment), p.from.Offset, int64(p.d.resume.Segment), p.d.resume.Offset,
			int64(p.d.at.Segment), p.d.at.Offset, p.d.reason, int64(p.lastGood), nextID)
		if err != nil {
			return fmt.Errorf("recording the skip: %w", err)
		}
		return nil
	})
}
