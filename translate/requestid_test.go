package translate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/smsbulk/smsbulk-shim/idmap"
)

func TestParseRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"none", "", true},
		{"uuid", "6f1c2a4e-8d6b-4f0e-9c1a-2b3d4e5f6a7b", true},
		{"printable", "order #42: retry ~ ok", true},
		{"64", strings.Repeat("a", 64), true},
		{"65", strings.Repeat("a", 65), false},
		{"tab", "a\tb", false},
		{"newline", "a\n", false},
		{"del", "a\x7f", false},
		{"utf-8", "заказ", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRequestID(tc.in)
			if tc.ok {
				if err != nil || got != tc.in {
					t.Fatalf("ParseRequestID(%q) = %q, %v; want it back", tc.in, got, err)
				}
				return
			}
			var le *Error
			if !errors.As(err, &le) || le.Code != BadAction {
				t.Fatalf("ParseRequestID(%q) = %q, %v; want BAD_ACTION", tc.in, got, err)
			}
		})
	}
}

func TestParseRequestReadsRequestID(t *testing.T) {
	t.Parallel()
	r := ParseRequest(url.Values{"action": {"getNumber"}}, url.Values{"requestId": {" a b "}})
	if r.RequestID != " a b " {
		t.Fatalf("RequestID = %q, want it as sent from the form", r.RequestID)
	}
}

func TestClassifyRequestConflict(t *testing.T) {
	t.Parallel()
	e, known := Classify(fmt.Errorf("buying: %w", idmap.ErrRequestConflict))
	if !known || e.Code != RequestIDConflict || string(e.Body()) != "REQUEST_ID_CONFLICT" {
		t.Fatalf("Classify(conflict) = %v, %v; want REQUEST_ID_CONFLICT", e, known)
	}
	if RequestIDConflict.Status(ProfileSMSActivate) != 200 || RequestIDConflict.Status(ProfileSMSBulk) != 409 {
		t.Fatal("REQUEST_ID_CONFLICT is not 200 in sms-activate and 409 in smsbulk")
	}
}
