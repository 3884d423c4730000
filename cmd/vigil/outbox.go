package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-security/vigil/store"
)

// runOutbox is `vigil outbox`: the notification outbox of a store (a data
// directory's SQLite file, or --db) — counts by state, and the entries of a state (failed ones
// are what needs looking at: they are kept, never dropped).
func runOutbox(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var o tokenOpts
	fs := tokenFlags("outbox", stderr, &o)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil outbox [--data DIR | --db URL|FILE] [--config FILE] [--state pending|done|failed] [--target ID] [--limit N] [--requeue]")
		fs.PrintDefaults()
	}
	state := fs.String("state", store.OutboxFailed, "list the entries in this state (pending, done, failed)")
	target := fs.String("target", "", "list only this target's entries (webhook:..., mail:..., export:...)")
	limit := fs.Int("limit", 100, "most entries listed")
	requeue := fs.Bool("requeue", false, "make the failed entries (of --target) pending again, to be delivered by the running server")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	switch *state {
	case store.OutboxPending, store.OutboxDone, store.OutboxFailed:
	default:
		return usageError{fmt.Errorf("--state must be pending, done or failed, not %q", *state)}
	}
	if _, err := o.load(); err != nil {
		return err
	}
	st, err := openTokenStore(o.data, o.db, false)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if *requeue {
		var targets []string
		if *target != "" {
			targets = []string{*target}
		}
		n, err := st.RequeueOutbox(ctx, targets, time.Now())
		if err != nil {
			return errors.Join(err, st.Close())
		}
		fmt.Fprintf(stdout, "requeued %d failed entries\n", n)
	}
	counts, err := st.OutboxCounts(ctx)
	q := store.OutboxQuery{States: []string{*state}, Limit: *limit}
	if *target != "" {
		q.TargetIDs = []string{*target}
	}
	var es []store.OutboxEntry
	if err == nil {
		es, err = st.ListOutbox(ctx, q)
	}
	if err = errors.Join(err, st.Close()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pending %d, done %d, failed %d\n", counts[store.OutboxPending], counts[store.OutboxDone], counts[store.OutboxFailed])
	if len(es) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTARGET\tEVENT\tALERT\tATTEMPTS\tCREATED\tERROR / RESULT")
	for _, e := range es {
		why := e.LastError
		if why == "" {
			why = e.Result
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.TargetID, e.Event, e.AlertID, e.Attempts,
			e.Created.UTC().Format(time.DateTime), strings.ReplaceAll(why, "\t", " "))
	}
	return tw.Flush()
}
