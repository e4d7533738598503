package translate_test

import (
	"testing"

	"github.com/smsbulk/smsbulk-shim/translate"
)

func TestProfileText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in      string
		want    translate.Profile
		wantErr bool
	}{
		{in: "", want: translate.ProfileSMSActivate},
		{in: "sms-activate", want: translate.ProfileSMSActivate},
		{in: "smsbulk", want: translate.ProfileSMSBulk},
		{in: "SMSBULK", wantErr: true},
		{in: "legacy", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			p := translate.Profile(42) // a value no name gives, to see that errors leave it alone
			err := p.UnmarshalText([]byte(tc.in))
			if tc.wantErr {
				if err == nil || p != 42 {
					t.Fatalf("UnmarshalText(%q) = %v, profile %d; want an error and the profile unchanged", tc.in, err, p)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", tc.in, p, err, tc.want)
			}
			b, err := p.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var back translate.Profile
			if err := back.UnmarshalText(b); err != nil || back != p {
				t.Errorf("MarshalText round trip: %q gives %v, %v", b, back, err)
			}
		})
	}
}
