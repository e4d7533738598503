package upstream_test

import (
	"testing"

	"github.com/smsbulk/smsbulk-shim/upstream"
)

func TestStatusRefunded(t *testing.T) {
	t.Parallel()
	for st, want := range map[upstream.Status]bool{
		upstream.StatusWaiting: false, upstream.StatusReceived: false, upstream.StatusRetryWaiting: false,
		upstream.StatusCompleted: false, upstream.StatusCancelled: true, upstream.StatusExpired: true,
		upstream.StatusRefunded: true, "LOST": false,
	} {
		if got := st.Refunded(); got != want {
			t.Errorf("%s.Refunded() = %v, want %v", st, got, want)
		}
	}
}
