package translate_test

import (
	"testing"

	"github.com/smsbulk/smsbulk-shim/countries"
	"github.com/smsbulk/smsbulk-shim/translate"
)

// TestConfusablesFoldedAlike checks that Unicode look-alikes of a country
// or a service (a Kelvin sign, a zero-width space, fullwidth letters, a
// soft hyphen) name what their plain spelling names, for countries and
// services alike.
func TestConfusablesFoldedAlike(t *testing.T) {
	t.Parallel()
	cc, err := countries.NewResolver(countries.Builtin(), 0)
	if err != nil {
		t.Fatal(err)
	}
	svc := translate.BuiltinServices()
	cases := []struct{ plain, odd string }{
		{"kenya", "\u212Aenya"},        // Kelvin sign
		{"russia", "rus\u200Bsia"},     // zero-width space
		{"usa", "\uff55\uff53\uff41"},  // fullwidth
		{"62", "\uff16\uff12"},         // fullwidth digits
		{"wa", "w\u00ADa"},             // soft hyphen
		{"telegram", "tele\u200Dgram"}, // zero-width joiner
		{"whatsapp", "\ufeffwhatsapp"}, // byte order mark
	}
	for _, tc := range cases {
		want, wok := cc.Resolve(tc.plain)
		got, gok := cc.Resolve(tc.odd)
		if wok != gok || want.ID != got.ID {
			t.Errorf("country %q = %d %v, %q = %d %v", tc.plain, want.ID, wok, tc.odd, got.ID, gok)
		}
		wc, werr := svc.Code(tc.plain)
		gc, gerr := svc.Code(tc.odd)
		if wc != gc || (werr == nil) != (gerr == nil) {
			t.Errorf("service %q = %q %v, %q = %q %v", tc.plain, wc, werr, tc.odd, gc, gerr)
		}
	}
	if got, err := svc.Code("\u212At"); err != nil || got != "kt" {
		t.Errorf("service with a Kelvin sign = %q %v, want kt", got, err)
	}
}
