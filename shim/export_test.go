package shim

// RefreshingOffers reports whether a fetch of the offer snapshot is
// running, for tests that wait for a background refresh.
func (s *Server) RefreshingOffers() bool { return s.catalog.offers.inflightNow() != nil }

// LongPollCounts is the number of long-poll waiters and of activations
// with a poller, for tests that wait for waiters to join or leave.
func (s *Server) LongPollCounts() (waiters, activations int) { return s.polls.counts() }
