package translate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/translate"
	"github.com/smsbulk/smsbulk-shim/upstream"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/<name>.golden, byte for byte.
func golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", name, got, want)
	}
	if (got[0] == '{' || got[0] == '[') && !json.Valid(got) {
		t.Errorf("%s: not valid JSON: %q", name, got)
	}
}

func TestBalanceBody(t *testing.T) {
	tests := []struct{ in, want string }{
		{"42.50", "ACCESS_BALANCE:42.50"},
		{"42.5", "ACCESS_BALANCE:42.50"},
		{"42", "ACCESS_BALANCE:42.00"},
		{"0", "ACCESS_BALANCE:0.00"},
		{"100.00", "ACCESS_BALANCE:100.00"},
		{"42.509", "ACCESS_BALANCE:42.50"},
		{"42.999999", "ACCESS_BALANCE:42.99"},
		{"0.001", "ACCESS_BALANCE:0.00"},
		{"-0.001", "ACCESS_BALANCE:-0.01"},
		{"-1.50", "ACCESS_BALANCE:-1.50"},
		{"12345678901234567890.129", "ACCESS_BALANCE:12345678901234567890.12"},
	}
	for _, tc := range tests {
		got, err := translate.BalanceBody(upstream.Balance{Balance: upstream.Decimal(tc.in), Currency: "USD"})
		if err != nil || string(got) != tc.want {
			t.Errorf("BalanceBody(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "1e5", "abc", "1.", ".5"} {
		if _, err := translate.BalanceBody(upstream.Balance{Balance: upstream.Decimal(bad)}); !errors.Is(err, translate.ErrBadAnswer) {
			t.Errorf("BalanceBody(%q) error %v, want ErrBadAnswer", bad, err)
		}
	}
}

func TestNumberBody(t *testing.T) {
	tests := []struct {
		id    int64
		phone string
		want  string
	}{
		{100000001, "79991234567", "ACCESS_NUMBER:100000001:79991234567"},
		{2147483647, "+905551234567", "ACCESS_NUMBER:2147483647:905551234567"},
		{100000002, "+1 (555) 123-4567", "ACCESS_NUMBER:100000002:15551234567"},
	}
	for _, tc := range tests {
		got, err := translate.NumberBody(tc.id, upstream.Activation{PhoneNumber: tc.phone})
		if err != nil || string(got) != tc.want {
			t.Errorf("NumberBody(%d, %q) = %q, %v; want %q", tc.id, tc.phone, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "123", "7999abc4567", "7999:1234567", "1+5551234567", "123456789012345678901"} {
		if _, err := translate.NumberBody(1, upstream.Activation{PhoneNumber: bad}); !errors.Is(err, translate.ErrBadAnswer) {
			t.Errorf("NumberBody(%q) error %v, want ErrBadAnswer", bad, err)
		}
	}
}

func TestStatusBody(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		status upstream.Status
		code   *string
		want   string
	}{
		{upstream.StatusWaiting, nil, "STATUS_WAIT_CODE"},
		{upstream.StatusReceived, str("123456"), "STATUS_OK:123456"},
		{upstream.StatusReceived, nil, "STATUS_WAIT_CODE"},
		{upstream.StatusCompleted, str("123456"), "STATUS_OK:123456"},
		{upstream.StatusRetryWaiting, str("123456"), "STATUS_WAIT_RETRY:123456"},
		{upstream.StatusRetryWaiting, nil, "STATUS_WAIT_CODE"},
		{upstream.StatusCancelled, nil, "STATUS_CANCEL"},
		{upstream.StatusExpired, nil, "STATUS_CANCEL"},
		{upstream.StatusRefunded, nil, "STATUS_CANCEL"},
		{upstream.StatusExpired, str("555"), "STATUS_OK:555"},
		{upstream.StatusReceived, str(" 12:34\r\n"), "STATUS_OK:1234"},
		{upstream.StatusReceived, str("123 456"), "STATUS_OK:123456"},
		{upstream.StatusReceived, str("G-1234"), "STATUS_OK:G-1234"},
	}
	for _, tc := range tests {
		got, err := translate.StatusBody(upstream.Activation{Status: tc.status, SMSCode: tc.code})
		if err != nil || string(got) != tc.want {
			t.Errorf("StatusBody(%s) = %q, %v; want %q", tc.status, got, err, tc.want)
		}
	}
	if _, err := translate.StatusBody(upstream.Activation{Status: "LOST"}); !errors.Is(err, translate.ErrBadAnswer) {
		t.Errorf("unknown status: error %v, want ErrBadAnswer", err)
	}
}

var (
	services = []upstream.Service{{Code: "wa", Name: "WhatsApp"}, {Code: "tg", Name: "Telegram"}, {Code: "ig", Name: "Instagram"}}
	offers   = []upstream.Offer{
		{CountryISO: "TR", ServiceCode: "wa", Price: "0.50", Stock: 262},
		{CountryISO: "TR", ServiceCode: "tg", Price: "0.35", Stock: 0},
		{CountryISO: "US", ServiceCode: "wa", Price: "1.20", Stock: 7},
		{CountryISO: "tr", ServiceCode: "ig", Price: "0.10", Stock: -3},
	}
)

func TestNumbersStatusBody(t *testing.T) {
	golden(t, "numbers_status_sms_activate", translate.NumbersStatusBody(translate.ProfileSMSActivate, 62, "TR", services, offers))
	golden(t, "numbers_status_smsbulk", translate.NumbersStatusBody(translate.ProfileSMSBulk, 62, "TR", services, offers))
	golden(t, "numbers_status_empty", translate.NumbersStatusBody(translate.ProfileSMSBulk, 62, "TR", nil, offers))
}

func TestPricesBody(t *testing.T) {
	in := []translate.PriceOffer{
		{CountryID: 62, Offer: offers[0]},
		{CountryID: 62, Offer: offers[1]},
		{CountryID: 187, Offer: offers[2]},
		{CountryID: 187, Offer: upstream.Offer{CountryISO: "US", ServiceCode: "wa", Price: "1.05", Stock: 3}},
		{CountryID: 0, Offer: upstream.Offer{CountryISO: "RU", ServiceCode: "tg", Price: "21.00", Stock: 1}},
		{CountryID: 0, Offer: upstream.Offer{CountryISO: "RU", ServiceCode: "wa", Price: "0.123456789012345678", Stock: 5}},
	}
	got, err := translate.PricesBody(in)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "prices", got)
	empty, err := translate.PricesBody(nil)
	if err != nil || string(empty) != "{}" {
		t.Errorf("PricesBody(nil) = %q, %v", empty, err)
	}
	if _, err := translate.PricesBody([]translate.PriceOffer{{Offer: upstream.Offer{Price: "x"}}}); !errors.Is(err, translate.ErrBadAnswer) {
		t.Errorf("bad price: error %v, want ErrBadAnswer", err)
	}
}

func TestCountriesBody(t *testing.T) {
	rows := []countries.Country{
		{ID: 62, ISO: "TR", Eng: "Turkey", Rus: "Турция", Chn: "土耳其", Slug: "turkey", Visible: true, Retry: true},
		{ID: 0, ISO: "RU", Eng: "Russia", Rus: "Россия", Chn: "俄罗斯", Slug: "russia", Visible: true, Retry: true},
		{ID: 187, ISO: "US", Eng: "USA", Rus: "США", Chn: "美国（物理)", Slug: "united-states", Visible: true, Retry: true},
		{ID: 12, ISO: "US", Eng: "USA (virtual)", Rus: "США (виртуальные)", Chn: "美国（虚拟）", Slug: "usa-virtual", Visible: true, Rent: true, MultiService: true},
		{ID: 201, ISO: "GI", Rus: "Гибралтар", Chn: "直布罗陀", Slug: "gibraltar", Visible: true, Retry: true},
	}
	golden(t, "countries_sms_activate", translate.CountriesBody(translate.ProfileSMSActivate, rows))
	golden(t, "countries_smsbulk", translate.CountriesBody(translate.ProfileSMSBulk, rows))
	if got := string(translate.CountriesBody(translate.ProfileSMSBulk, nil)); got != "[]" {
		t.Errorf("empty smsbulk = %q", got)
	}
	if got := string(translate.CountriesBody(translate.ProfileSMSActivate, nil)); got != "{}" {
		t.Errorf("empty sms-activate = %q", got)
	}
}

func BenchmarkStatusBody(b *testing.B) {
	code := "123456"
	a := upstream.Activation{Status: upstream.StatusReceived, SMSCode: &code}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := translate.StatusBody(a); err != nil {
			b.Fatal(err)
		}
	}
}
