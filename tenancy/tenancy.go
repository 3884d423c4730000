// Package tenancy is Vigil's directory of who owns what: partners (Cloud
// Solution Provider partners, as in Partner Center), the customer tenants
// each partner manages, and each customer's subscriptions.
//
// The directory comes from the configuration file (key "directory:"):
//
//	directory:
//	  partners:
//	    - id: 4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01
//	      name: Contoso CSP
//	      customers: [1889e718-414b-4bad-8bbe-c1135bd39a41]
//	  customers:
//	    - tenantId: 1889e718-414b-4bad-8bbe-c1135bd39a41
//	      name: Fabrikam
//	      subscriptions:
//	        - id: 5f6e6521-6e5f-4b0b-80aa-bd44fad7a398
//	          name: Fabrikam production
//
// A [Directory] is plain data, safe to copy; [NewIndex] builds the look-ups
// the API and the suppression rules use. IDs are compared case-insensitively
// (Azure writes GUIDs in either case) and returned in lower case.
package tenancy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Directory lists partners and customers.
type Directory struct {
	// Partners are the partners and the customer tenants each manages.
	Partners []Partner `yaml:"partners" json:"partners"`
	// Customers are the customer tenants and their subscriptions. A tenant
	// a partner lists need not appear here (it then has no subscriptions
	// on record), and a customer here need not belong to a partner.
	Customers []Customer `yaml:"customers" json:"customers"`
}

// Partner is one partner: its ID (the partner's own tenant ID in Partner
// Center), name and the customer tenant IDs it manages.
type Partner struct {
	ID        string   `yaml:"id" json:"id"`
	Name      string   `yaml:"name" json:"name"`
	Customers []string `yaml:"customers" json:"customers"`
}

// Customer is one customer tenant with its subscriptions.
type Customer struct {
	TenantID      string         `yaml:"tenantId" json:"tenantId"`
	Name          string         `yaml:"name" json:"name"`
	Subscriptions []Subscription `yaml:"subscriptions" json:"subscriptions"`
}

// Subscription is one Azure subscription of a customer.
type Subscription struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
}

// NormalizeID returns id as the directory compares it: trimmed and in
// lower case.
func NormalizeID(id string) string {
	return strings.ToLower(strings.TrimSpace(id))
}

// Validate checks the directory: every ID present and free of spaces and
// control characters, no partner, customer or subscription listed twice,
// no subscription under two customers. Errors name the entry by its path
// (partners[1].customers[0]).
func (d *Directory) Validate() error {
	var errs []error
	bad := func(path, id string) bool {
		switch {
		case strings.TrimSpace(id) == "":
			errs = append(errs, fmt.Errorf("directory.%s: empty id", path))
			return true
		case strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			errs = append(errs, fmt.Errorf("directory.%s: id %q contains spaces or control characters", path, id))
			return true
		}
		return false
	}
	partners := map[string]string{}
	for i, p := range d.Partners {
		path := fmt.Sprintf("partners[%d].id", i)
		if bad(path, p.ID) {
			continue
		}
		id := NormalizeID(p.ID)
		if prev, dup := partners[id]; dup {
			errs = append(errs, fmt.Errorf("directory.%s: partner %s is already listed at %s", path, p.ID, prev))
		}
		partners[id] = path
		seen := map[string]bool{}
		for j, c := range p.Customers {
			cpath := fmt.Sprintf("partners[%d].customers[%d]", i, j)
			if bad(cpath, c) {
				continue
			}
			if seen[NormalizeID(c)] {
				errs = append(errs, fmt.Errorf("directory.%s: customer %s is listed twice for partner %s", cpath, c, p.ID))
			}
			seen[NormalizeID(c)] = true
		}
	}
	customers := map[string]string{}
	subs := map[string]string{}
	for i, c := range d.Customers {
		path := fmt.Sprintf("customers[%d].tenantId", i)
		if bad(path, c.TenantID) {
			continue
		}
		id := NormalizeID(c.TenantID)
		if prev, dup := customers[id]; dup {
			errs = append(errs, fmt.Errorf("directory.%s: customer %s is already listed at %s", path, c.TenantID, prev))
		}
		customers[id] = path
		for j, s := range c.Subscriptions {
			spath := fmt.Sprintf("customers[%d].subscriptions[%d].id", i, j)
			if bad(spath, s.ID) {
				continue
			}
			if prev, dup := subs[NormalizeID(s.ID)]; dup {
				errs = append(errs, fmt.Errorf("directory.%s: subscription %s is already listed at %s", spath, s.ID, prev))
			}
			subs[NormalizeID(s.ID)] = spath
		}
	}
	return errors.Join(errs...)
}

// Index answers the directory's questions quickly. It is read-only after
// NewIndex and safe for concurrent use.
type Index struct {
	partners      map[string]*Partner  // normalised partner ID -> partner
	customersOf   map[string][]string  // partner -> sorted customer tenant IDs
	partnersOf    map[string][]string  // tenant -> sorted partner IDs
	customers     map[string]*Customer // tenant -> customer
	tenantOfSub   map[string]string    // subscription -> tenant
	subscriptions map[string][]string  // tenant -> sorted subscription IDs
}

// NewIndex indexes d (nil gives an empty index). Entries that Validate
// would reject are skipped or merged (a partner listed twice has the union
// of its customers); call Validate first to report them.
func NewIndex(d *Directory) *Index {
	x := &Index{
		partners:      map[string]*Partner{},
		customersOf:   map[string][]string{},
		partnersOf:    map[string][]string{},
		customers:     map[string]*Customer{},
		tenantOfSub:   map[string]string{},
		subscriptions: map[string][]string{},
	}
	if d == nil {
		return x
	}
	for i := range d.Partners {
		p := &d.Partners[i]
		id := NormalizeID(p.ID)
		if id == "" {
			continue
		}
		if _, ok := x.partners[id]; !ok {
			x.partners[id] = &Partner{ID: id, Name: p.Name}
		}
		for _, c := range p.Customers {
			c = NormalizeID(c)
			if c == "" {
				continue
			}
			x.customersOf[id] = appendUnique(x.customersOf[id], c)
			x.partnersOf[c] = appendUnique(x.partnersOf[c], id)
		}
	}
	for i := range d.Customers {
		c := &d.Customers[i]
		id := NormalizeID(c.TenantID)
		if id == "" {
			continue
		}
		if _, ok := x.customers[id]; !ok {
			x.customers[id] = &Customer{TenantID: id, Name: c.Name}
		}
		for _, s := range c.Subscriptions {
			sid := NormalizeID(s.ID)
			if sid == "" {
				continue
			}
			if _, taken := x.tenantOfSub[sid]; taken {
				continue
			}
			x.tenantOfSub[sid] = id
			x.subscriptions[id] = appendUnique(x.subscriptions[id], sid)
			x.customers[id].Subscriptions = append(x.customers[id].Subscriptions, Subscription{ID: sid, Name: s.Name})
		}
	}
	for _, m := range []map[string][]string{x.customersOf, x.partnersOf, x.subscriptions} {
		for _, v := range m {
			slices.Sort(v)
		}
	}
	for id, cs := range x.customersOf {
		x.partners[id].Customers = cs
	}
	return x
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// HasPartner reports whether the partner is in the directory.
func (x *Index) HasPartner(id string) bool {
	_, ok := x.partners[NormalizeID(id)]
	return ok
}

// Partner returns the partner with the ID (customers sorted, IDs in lower
// case) and whether there is one. The result is a copy.
func (x *Index) Partner(id string) (Partner, bool) {
	p, ok := x.partners[NormalizeID(id)]
	if !ok {
		return Partner{}, false
	}
	c := *p
	c.Customers = slices.Clone(p.Customers)
	return c, true
}

// Customer returns the customer tenant (with its subscriptions) and whether
// the directory lists it. The result is a copy.
func (x *Index) Customer(tenantID string) (Customer, bool) {
	c, ok := x.customers[NormalizeID(tenantID)]
	if !ok {
		return Customer{}, false
	}
	out := *c
	out.Subscriptions = slices.Clone(c.Subscriptions)
	return out, true
}

// CustomersOf returns the sorted customer tenant IDs the partner manages,
// as a non-nil slice (empty for an unknown partner). The caller may keep
// and modify it.
func (x *Index) CustomersOf(partnerID string) []string {
	return append([]string{}, x.customersOf[NormalizeID(partnerID)]...)
}

// PartnersOf returns the sorted IDs of the partners that manage the tenant
// (nil when none does).
func (x *Index) PartnersOf(tenantID string) []string {
	return slices.Clone(x.partnersOf[NormalizeID(tenantID)])
}

// Manages reports whether the partner manages the customer tenant.
func (x *Index) Manages(partnerID, tenantID string) bool {
	_, ok := slices.BinarySearch(x.customersOf[NormalizeID(partnerID)], NormalizeID(tenantID))
	return ok
}

// TenantOfSubscription returns the customer tenant that owns the
// subscription, and whether the directory says.
func (x *Index) TenantOfSubscription(subscriptionID string) (string, bool) {
	t, ok := x.tenantOfSub[NormalizeID(subscriptionID)]
	return t, ok
}

// SubscriptionsOf returns the sorted subscription IDs of the tenant.
func (x *Index) SubscriptionsOf(tenantID string) []string {
	return slices.Clone(x.subscriptions[NormalizeID(tenantID)])
}
