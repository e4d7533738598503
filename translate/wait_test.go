package translate

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

func TestParseWait(t *testing.T) {
	t.Parallel()
	const limit = 30 * time.Second
	tests := []struct {
		name, in string
		limit    time.Duration
		want     time.Duration
		ok       bool
	}{
		{"none", "", limit, 0, true},
		{"zero", "0", limit, 0, true},
		{"one", "1", limit, time.Second, true},
		{"max", "30", limit, limit, true},
		{"leading zeros", "00007", limit, 7 * time.Second, true},
		{"above max is clamped", "31", limit, limit, true},
		{"five digits clamped", "99999", limit, limit, true},
		{"off", "30", 0, 0, true},
		{"fractional max", "5", 2500 * time.Millisecond, 2500 * time.Millisecond, true},
		{"six digits", "100000", limit, 0, false},
		{"minus", "-1", limit, 0, false},
		{"plus", "+5", limit, 0, false},
		{"space before", " 5", limit, 0, false},
		{"space after", "5 ", limit, 0, false},
		{"fraction", "1.5", limit, 0, false},
		{"hex", "0x10", limit, 0, false},
		{"word", "yes", limit, 0, false},
		{"fullwidth digit", "１", limit, 0, false},
		{"off still checks", "abc", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseWait(tc.in, tc.limit)
			if tc.ok {
				if err != nil || got != tc.want {
					t.Fatalf("ParseWait(%q, %v) = %v, %v; want %v", tc.in, tc.limit, got, err, tc.want)
				}
				return
			}
			var le *Error
			if !errors.As(err, &le) || le.Code != BadAction {
				t.Fatalf("ParseWait(%q, %v) = %v, %v; want BAD_ACTION", tc.in, tc.limit, got, err)
			}
		})
	}
}

// TestParseRequestReadsWait reads wait from a form, the POST path; the
// GET path, ParseQuery, is TestParseQueryEveryParam's.
func TestParseRequestReadsWait(t *testing.T) {
	t.Parallel()
	r := ParseRequest(url.Values{"action": {"getStatus"}}, url.Values{"wait": {"25"}})
	if r.Wait != "25" {
		t.Fatalf("Wait = %q, want 25 from the form", r.Wait)
	}
	q, err := ParseQuery("action=getStatus&id=1&wait=25", Limits{}.WithDefaults())
	if err != nil || q.Wait != "25" {
		t.Fatalf("ParseQuery: Wait = %q, %v; want 25", q.Wait, err)
	}
}

func TestWaiting(t *testing.T) {
	t.Parallel()
	code := "123456"
	tests := []struct {
		st   upstream.Status
		code *string
		want bool
	}{
		{upstream.StatusWaiting, nil, true},
		{upstream.StatusRetryWaiting, &code, true},
		{upstream.StatusRetryWaiting, nil, true},
		{upstream.StatusReceived, nil, true}, // STATUS_WAIT_CODE: no code yet
		{upstream.StatusReceived, &code, false},
		{upstream.StatusCompleted, &code, false},
		{upstream.StatusCancelled, nil, false},
		{upstream.StatusExpired, nil, false},
		{upstream.StatusRefunded, &code, false},
		{"NEW_STATE", nil, false},
	}
	for _, tc := range tests {
		a := upstream.Activation{Status: tc.st, SMSCode: tc.code}
		body, _ := StatusBody(a)
		if got := Waiting(a); got != tc.want {
			t.Errorf("Waiting(%s, code %v) = %v (getStatus %q), want %v", tc.st, tc.code != nil, got, body, tc.want)
		}
	}
}
