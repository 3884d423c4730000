package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/vigil-security/vigil/api"
	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/store"
	"github.com/vigil-security/vigil/tenancy"
)

// runToken is `vigil token create|list|revoke`: API bearer tokens, kept
// hashed in the data directory's database.
func runToken(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprintln(stderr, `usage: vigil token COMMAND [--data DIR | --db URL] [--config FILE] [flags]

  create --partner ID | --customer ID [--write] [--name NAME]
                 make a token scoped to a partner (all its customers) or one customer
                 tenant, read-only unless --write; the token is printed once
  list           list tokens (never their secrets)
  revoke ID      revoke a token by its ID (or a unique start of it)

Run "vigil token COMMAND -h" for a command's flags.`)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		if len(args) == 0 {
			return usageError{errors.New("missing token command")}
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "create":
		return tokenCreate(args[1:], stdout, stderr)
	case "list":
		return tokenList(args[1:], stdout, stderr)
	case "revoke":
		return tokenRevoke(args[1:], stdout, stderr)
	}
	usage()
	return usageError{fmt.Errorf("unknown token command %q", args[0])}
}

// tokenOpts are the flags every token subcommand has.
type tokenOpts struct {
	data, configPath, db string
}

// tokenFlags starts a token subcommand's flag set with --data and --config.
func tokenFlags(name string, stderr io.Writer, o *tokenOpts) *flag.FlagSet {
	fs := flag.NewFlagSet("token "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.data, "data", "", "Vigil's data directory, as vigil serve uses it (default: the config's, else ./"+config.DefaultDataDir+")")
	fs.StringVar(&o.configPath, "config", "", "YAML configuration file (its server.dataDir, server.database and directory)")
	fs.StringVar(&o.db, "db", "", "store, as vigil serve --db takes it: a postgres:// URL or a SQLite file (default: the config's server.database, else vigil.db in the data directory)")
	return fs
}

// load reads the configuration (the defaults without --config) and
// resolves the data directory as vigil serve does.
func (o *tokenOpts) load() (config.Config, error) {
	cfg := config.Default()
	if o.configPath != "" {
		var err error
		if cfg, err = config.Load(o.configPath); err != nil {
			return cfg, err
		}
	}
	if o.data == "" {
		o.data = cfg.Server.DataDir
	}
	if o.db == "" {
		o.db = cfg.Server.Database
	}
	return cfg, nil
}

// openTokenStore opens the store: db when given, else the database in the
// data directory, creating the directory when create is true.
func openTokenStore(data, db string, create bool) (store.Database, error) {
	if db != "" {
		return store.Open(context.Background(), db)
	}
	if create {
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	} else if _, err := os.Stat(data); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return store.Open(context.Background(), filepath.Join(data, store.DefaultFile))
}

// cliActor is the author of changes made from the command line.
func cliActor() store.Actor {
	name := "cli"
	if u := os.Getenv("USER"); u != "" {
		name = "cli:" + u
	}
	return store.Actor{Name: name, At: time.Now()}
}

func tokenCreate(args []string, stdout, stderr io.Writer) error {
	var (
		o                       tokenOpts
		partner, customer, name string
		write                   bool
	)
	fs := tokenFlags("create", stderr, &o)
	fs.StringVar(&partner, "partner", "", "partner ID: the token sees every customer tenant the directory says the partner manages")
	fs.StringVar(&customer, "customer", "", "customer tenant ID: the token sees this tenant only")
	fs.BoolVar(&write, "write", false, "allow changes (alert status, resolving stale alerts, suppression rules)")
	fs.StringVar(&name, "name", "", "who the token is for, such as a UPN; shown as updatedBy of its changes (default token:ID)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if (partner == "") == (customer == "") {
		return usageError{errors.New("give exactly one of --partner ID and --customer ID")}
	}
	for _, id := range []struct{ flag, value, what string }{{"partner", partner, "partner"}, {"customer", customer, "customer tenant"}} {
		if id.value != "" && !isGUID(id.value) {
			return usageError{fmt.Errorf("--%s %q is not a GUID: a %s ID looks like 72f988bf-86f1-41af-91ab-2d7cd011db47", id.flag, id.value, id.what)}
		}
	}
	cfg, err := o.load()
	if err != nil {
		return err
	}
	if dir := tenancy.NewIndex(&cfg.Directory); o.configPath != "" {
		switch {
		case partner != "" && !dir.HasPartner(partner):
			fmt.Fprintf(stderr, "warning: partner %s is not in the configuration's directory; its token will see no alerts until it is\n", partner)
		case customer != "" && len(dir.PartnersOf(customer)) == 0:
			if _, ok := dir.Customer(customer); !ok {
				fmt.Fprintf(stderr, "warning: customer %s is not in the configuration's directory\n", customer)
			}
		}
	}
	st, err := openTokenStore(o.data, o.db, true)
	if err != nil {
		return err
	}
	text, tok, err := api.IssueToken(context.Background(), st, api.TokenRequest{
		PartnerID: partner, TenantID: customer, Write: write, Name: name,
	}, cliActor(), nil)
	if err != nil {
		return errors.Join(err, st.Close())
	}
	if err := st.Close(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, text)
	fmt.Fprintf(stderr, "token %s (%s, %s, name %s) created; it is shown only this once, keep it secret\n",
		tok.ID, tokenScope(tok), tokenAccess(tok), tok.Name)
	return nil
}

func tokenScope(t store.Token) string {
	if t.PartnerID != "" {
		return "partner " + t.PartnerID
	}
	return "customer " + t.TenantID
}

func tokenAccess(t store.Token) string {
	if t.Write {
		return "read-write"
	}
	return "read"
}

func tokenList(args []string, stdout, stderr io.Writer) error {
	var o tokenOpts
	fs := tokenFlags("list", stderr, &o)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if _, err := o.load(); err != nil {
		return err
	}
	st, err := openTokenStore(o.data, o.db, false)
	if err != nil {
		return err
	}
	toks, err := st.ListTokens(context.Background())
	if err = errors.Join(err, st.Close()); err != nil {
		return err
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.DateTime)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCOPE\tACCESS\tNAME\tCREATED\tLAST USED\tREVOKED")
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, tokenScope(t), tokenAccess(t), t.Name,
			when(t.Created), when(t.LastUsed), when(t.Revoked))
	}
	return tw.Flush()
}

func tokenRevoke(args []string, stdout, stderr io.Writer) error {
	var o tokenOpts
	fs := tokenFlags("revoke", stderr, &o)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("give the ID of the token to revoke (see vigil token list)")}
	}
	if _, err := o.load(); err != nil {
		return err
	}
	st, err := openTokenStore(o.data, o.db, false)
	if err != nil {
		return err
	}
	tok, err := st.RevokeToken(context.Background(), fs.Arg(0), cliActor())
	if err = errors.Join(err, st.Close()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s (%s) revoked at %s\n", tok.ID, tokenScope(tok), tok.Revoked.UTC().Format(time.RFC3339))
	return nil
}

// isGUID reports whether s is a GUID as Azure writes tenant IDs: 8-4-4-4-12
// hexadecimal digits, in either case.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			return false
		}
	}
	return true
}
