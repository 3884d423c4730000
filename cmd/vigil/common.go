package main

import (
	"flag"
	"fmt"

	"github.com/vigil-security/vigil/config"
	"github.com/vigil-security/vigil/enrich"
)

// commonFlags are the flags vigil detect and vigil serve share: the
// configuration file, the number of detection shards and the intel files.
type commonFlags struct {
	configPath string
	workers    int
	geoip      listFlag
	tor        listFlag
	blocklist  listFlag
	assets     listFlag
	pools      listFlag
}

// register adds the shared flags to fs.
func (c *commonFlags) register(fs *flag.FlagSet, configHelp string) {
	fs.StringVar(&c.configPath, "config", "", configHelp)
	fs.IntVar(&c.workers, "workers", -1, "detection shards (default: the config's, else one per CPU)")
	fs.Var(&c.geoip, "geoip", "MaxMind-format mmdb file (city or ASN); repeatable")
	fs.Var(&c.tor, "tor", "Tor exit-node list, one address a line; repeatable")
	fs.Var(&c.assets, "assets", "inventory CSV (ip,resource_id,subscription_id,valid_from,valid_to) of which resource held which address when; network alerts fire only for ours; repeatable")
	fs.Var(&c.pools, "mining-pools", "list of crypto-mining pool addresses (the CryptoMining detection); repeatable")
	fs.Var(&c.blocklist, "blocklist", "[CATEGORY=]FILE: addresses or CIDRs (plain or ipsum format) of a category (malicious, c2, proxy, tor, mining-pool; default malicious); repeatable")
}

// load reads the configuration file (or takes the defaults) and applies the
// shared flags over it. The caller applies its own flags, then validates.
func (c *commonFlags) load() (config.Config, error) {
	cfg := config.Default()
	if c.configPath != "" {
		var err error
		if cfg, err = config.Load(c.configPath); err != nil {
			return cfg, err
		}
	}
	if c.workers >= 0 {
		cfg.Engine.Workers = c.workers
	}
	cfg.Intel.GeoIP = append(cfg.Intel.GeoIP, c.geoip...)
	cfg.Intel.Tor = append(cfg.Intel.Tor, c.tor...)
	for _, arg := range c.blocklist {
		b, err := enrich.ParseBlocklist(arg)
		if err != nil {
			return cfg, usageError{fmt.Errorf("--blocklist: %w", err)}
		}
		cfg.Intel.Blocklists = append(cfg.Intel.Blocklists, config.Blocklist{Path: b.Path, Category: b.Category, Source: b.Name})
	}
	cfg.Intel.Assets = append(cfg.Intel.Assets, c.assets...)
	for _, p := range c.pools {
		cfg.Intel.Blocklists = append(cfg.Intel.Blocklists, config.Blocklist{Path: p, Category: "mining-pool"})
	}
	return cfg, nil
}
