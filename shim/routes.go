package shim

import (
	"net/http"

	"github.com/gorilla/mux"
)

// legacyPaths are the paths of the legacy endpoint, all served alike.
var legacyPaths = [...]string{"/stubs/handler_api.php", "/stubs/handler_api", "/handler_api.php"}

// routes registers every route. Paths are matched as sent (no cleaning, the
// encoded form kept), so that pass-through forwards them unchanged.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter().UseEncodedPath().SkipClean(true)
	legacy := s.handleLegacy()
	for _, p := range legacyPaths {
		r.Handle(p, legacy)
	}
	if s.opt.Origin != nil {
		r.PathPrefix("/").Handler(s.handlePassthrough())
	} else {
		r.NotFoundHandler = http.NotFoundHandler()
	}
	return r
}
