package shim

// RefreshingOffers reports whether a fetch of the offer snapshot is
// running, for tests that wait for a background refresh.
func (s *Server) RefreshingOffers() bool { return s.catalog.offers.inflightNow() != nil }
