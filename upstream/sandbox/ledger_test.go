package sandbox

import (
	"strings"
	"testing"
	"time"
)

func TestLedgerCheck(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	buy := func(key, id, amount string) Entry {
		return Entry{Time: at, Key: key, Kind: KindPurchase, ActivationID: id, Amount: amount}
	}
	refund := func(key, id, amount string) Entry {
		return Entry{Time: at, Key: key, Kind: KindRefund, ActivationID: id, Amount: amount}
	}
	initial := map[string]string{"secretkey": "10.00", "other": "1.00"}
	tests := []struct {
		name    string
		l       Ledger
		wantErr string // a part of the error; "" for none
	}{
		{"empty", Ledger{Balances: map[string]string{"secretkey": "10.00", "other": "1.00"}}, ""},
		{"buy and refund", Ledger{
			Entries:  []Entry{buy("secretkey", "c1", "0.50"), buy("secretkey", "c2", "1.25"), refund("secretkey", "c1", "0.50")},
			Balances: map[string]string{"secretkey": "8.75", "other": "1.00"},
		}, ""},
		{"wrong balance", Ledger{
			Entries:  []Entry{buy("secretkey", "c1", "0.50")},
			Balances: map[string]string{"secretkey": "10.00", "other": "1.00"},
		}, "want 9.50"},
		{"double refund", Ledger{
			Entries:  []Entry{buy("secretkey", "c1", "0.50"), refund("secretkey", "c1", "0.50"), refund("secretkey", "c1", "0.50")},
			Balances: map[string]string{"secretkey": "10.50", "other": "1.00"},
		}, "refunded twice"},
		{"refund never bought", Ledger{
			Entries:  []Entry{refund("secretkey", "c9", "0.50")},
			Balances: map[string]string{"secretkey": "10.50", "other": "1.00"},
		}, "never bought"},
		{"refund of another amount", Ledger{
			Entries:  []Entry{buy("secretkey", "c1", "0.50"), refund("secretkey", "c1", "0.60")},
			Balances: map[string]string{"secretkey": "10.10", "other": "1.00"},
		}, "refunded 0.60"},
		{"refund to another key", Ledger{
			Entries:  []Entry{buy("secretkey", "c1", "0.50"), refund("other", "c1", "0.50")},
			Balances: map[string]string{"secretkey": "9.50", "other": "1.50"},
		}, "another key"},
		{"bought twice", Ledger{
			Entries:  []Entry{buy("secretkey", "c1", "0.50"), buy("secretkey", "c1", "0.50")},
			Balances: map[string]string{"secretkey": "9.00", "other": "1.00"},
		}, "bought twice"},
		{"negative", Ledger{
			Entries:  []Entry{buy("other", "c1", "2.00")},
			Balances: map[string]string{"secretkey": "10.00", "other": "-1.00"},
		}, "negative"},
		{"bad amount", Ledger{
			Entries:  []Entry{buy("secretkey", "c1", "-0.50")},
			Balances: map[string]string{"secretkey": "10.00", "other": "1.00"},
		}, "not a positive decimal"},
		{"unknown key", Ledger{
			Entries:  []Entry{buy("stranger", "c1", "0.50")},
			Balances: map[string]string{"secretkey": "10.00", "other": "1.00", "stranger": "0.00"},
		}, "no initial balance"},
		{"missing balance", Ledger{Balances: map[string]string{"other": "1.00"}}, "no balance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.l.Check(initial)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one with %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secretkey") || strings.Contains(err.Error(), "stranger") {
				t.Errorf("error %q reveals a key", err)
			}
		})
	}
}

func TestLedgerHelpers(t *testing.T) {
	t.Parallel()
	l := Ledger{
		Entries: []Entry{
			{Key: "a", Kind: KindPurchase, ActivationID: "c1", Amount: "0.50"},
			{Key: "b", Kind: KindPurchase, ActivationID: "c2", Amount: "0.50"},
			{Key: "a", Kind: KindRefund, ActivationID: "c1", Amount: "0.50"},
			{Key: "a", Kind: KindPurchase, ActivationID: "c3", Amount: "1.00"},
		},
		Balances: map[string]string{"a": "9.00"},
	}
	if p := l.Purchases("a"); len(p) != 2 || p[0].ActivationID != "c1" || p[1].ActivationID != "c3" {
		t.Errorf("purchases %+v", p)
	}
	if r := l.Refunds("a"); len(r) != 1 || r[0].ActivationID != "c1" {
		t.Errorf("refunds %+v", r)
	}
	if l.Balance("a") != "9.00" || l.Balance("zz") != "" {
		t.Errorf("balances %q %q", l.Balance("a"), l.Balance("zz"))
	}
}

func TestLedgerIsACopy(t *testing.T) {
	t.Parallel()
	sb, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	l := sb.Ledger()
	l.Balances["demo"] = "0.00"
	if got := sb.Ledger().Balance("demo"); got != "100.00" {
		t.Errorf("balance %s after changing a snapshot", got)
	}
}
