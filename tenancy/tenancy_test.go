package tenancy

import (
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

const sample = `
partners:
  - id: 4B1B6A9E-1F6F-4B0A-9D55-2B2F0C1A7E01
    name: Contoso CSP
    customers:
      - 1889e718-414b-4bad-8bbe-c1135bd39a41
      - 72f988bf-86f1-41af-91ab-2d7cd011db47
  - id: c296b2ce-8cd1-4346-9e82-d8eccca70d65
    name: Northwind reseller
    customers: [1889E718-414B-4BAD-8BBE-C1135BD39A41]
customers:
  - tenantId: 1889e718-414b-4bad-8bbe-c1135bd39a41
    name: Fabrikam
    subscriptions:
      - id: 5f6e6521-6e5f-4b0b-80aa-bd44fad7a398
        name: production
      - id: 9C2A8D3E-1F4B-4E6A-8C5D-0B7E3F2A1D90
  - tenantId: 0d5b4f37-7a1e-4f33-9d8c-2f3c1b6e8a10
    name: Unmanaged
`

func decode(t *testing.T, src string) *Directory {
	t.Helper()
	var d Directory
	if err := yaml.UnmarshalWithOptions([]byte(src), &d, yaml.Strict()); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return &d
}

func TestDirectoryYAMLAndIndex(t *testing.T) {
	d := decode(t, sample)
	if err := d.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	x := NewIndex(d)
	contoso := "4b1b6a9e-1f6f-4b0a-9d55-2b2f0c1a7e01"
	fabrikam := "1889e718-414b-4bad-8bbe-c1135bd39a41"
	if got, want := x.CustomersOf(strings.ToUpper(contoso)), []string{fabrikam, "72f988bf-86f1-41af-91ab-2d7cd011db47"}; !slices.Equal(got, want) {
		t.Errorf("CustomersOf = %v, want %v", got, want)
	}
	if got := x.CustomersOf("nobody"); got == nil || len(got) != 0 {
		t.Errorf("CustomersOf(unknown) = %#v, want empty non-nil", got)
	}
	if got, want := x.PartnersOf(fabrikam), []string{contoso, "c296b2ce-8cd1-4346-9e82-d8eccca70d65"}; !slices.Equal(got, want) {
		t.Errorf("PartnersOf = %v, want %v", got, want)
	}
	if !x.Manages(contoso, strings.ToUpper(fabrikam)) || x.Manages("c296b2ce-8cd1-4346-9e82-d8eccca70d65", "72f988bf-86f1-41af-91ab-2d7cd011db47") {
		t.Error("Manages gives the wrong answer")
	}
	if tnt, ok := x.TenantOfSubscription("9c2a8d3e-1f4b-4e6a-8c5d-0b7e3f2a1d90"); !ok || tnt != fabrikam {
		t.Errorf("TenantOfSubscription = %q, %v", tnt, ok)
	}
	if _, ok := x.TenantOfSubscription("00000000-0000-0000-0000-000000000000"); ok {
		t.Error("unknown subscription has a tenant")
	}
	c, ok := x.Customer(fabrikam)
	if !ok || c.Name != "Fabrikam" || len(c.Subscriptions) != 2 || c.Subscriptions[0].Name != "production" {
		t.Errorf("Customer = %+v, %v", c, ok)
	}
	p, ok := x.Partner(contoso)
	if !ok || p.Name != "Contoso CSP" || len(p.Customers) != 2 {
		t.Errorf("Partner = %+v, %v", p, ok)
	}
	p.Customers[0] = "mutated"
	if x.CustomersOf(contoso)[0] != fabrikam {
		t.Error("Partner returned the index's own slice")
	}
	if !x.HasPartner(contoso) || x.HasPartner(fabrikam) {
		t.Error("HasPartner gives the wrong answer")
	}
}

func TestDirectoryValidate(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty partner id", "partners: [{id: '', name: x}]", "partners[0].id: empty id"},
		{"space in id", "partners: [{id: 'a b'}]", "contains spaces"},
		{"duplicate partner", "partners: [{id: A}, {id: a}]", "partners[1].id: partner a is already listed at partners[0].id"},
		{"customer twice", "partners: [{id: p, customers: [c, C]}]", "customer C is listed twice"},
		{"duplicate customer", "customers: [{tenantId: t}, {tenantId: T}]", "customers[1].tenantId: customer T is already listed"},
		{"subscription twice", "customers: [{tenantId: t, subscriptions: [{id: s}]}, {tenantId: u, subscriptions: [{id: S}]}]", "subscription S is already listed at customers[0].subscriptions[0].id"},
		{"empty subscription", "customers: [{tenantId: t, subscriptions: [{name: n}]}]", "customers[0].subscriptions[0].id: empty id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decode(t, tc.src).Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	var empty Directory
	if err := empty.Validate(); err != nil {
		t.Errorf("empty directory: %v", err)
	}
}

func TestDirectoryUnknownKey(t *testing.T) {
	var d Directory
	err := yaml.UnmarshalWithOptions([]byte("partners: [{id: p, customer: [c]}]"), &d, yaml.Strict())
	if err == nil {
		t.Fatal("strict decoding accepted an unknown key")
	}
}

func TestNilIndex(t *testing.T) {
	x := NewIndex(nil)
	if x.HasPartner("p") || len(x.CustomersOf("p")) != 0 || x.PartnersOf("t") != nil {
		t.Error("empty index answers as if it knew something")
	}
}
