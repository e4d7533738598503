package sandbox

import (
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec    string
		want    fault
		wantErr bool
	}{
		{"", fault{}, false},
		{"latency=2s", fault{latency: 2 * time.Second}, false},
		{"status=503", fault{status: 503}, false},
		{"reset", fault{reset: true}, false},
		{"reset-after-commit", fault{resetAfterCommit: true}, false},
		{"bad-json", fault{badJSON: true}, false},
		{"latency=1s,reset-after-commit", fault{latency: time.Second, resetAfterCommit: true}, false},
		{" latency=1s , latency=3s , status=500, status=502 ", fault{latency: 3 * time.Second, status: 500}, false},
		{"latency", fault{}, true},
		{"latency=-1s", fault{}, true},
		{"latency=soon", fault{}, true},
		{"status=abc", fault{}, true},
		{"status=302", fault{}, true},
		{"status=600", fault{}, true},
		{"reset=1", fault{}, true},
		{"explode", fault{}, true},
		{"reset,", fault{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			got, err := parseFault(tc.spec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFaultMerge(t *testing.T) {
	t.Parallel()
	a := fault{latency: time.Second, status: 503}
	b := fault{latency: 2 * time.Second, status: 500, badJSON: true}
	want := fault{latency: 2 * time.Second, status: 503, badJSON: true}
	if got := a.merge(b); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := (fault{}).merge(b); got != b {
		t.Errorf("zero merge: got %+v, want %+v", got, b)
	}
}
