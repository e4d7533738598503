package shim

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/gorilla/mux"
)

// legacyPaths are the paths of the legacy endpoint, all served alike.
var legacyPaths = [...]string{"/stubs/handler_api.php", "/stubs/handler_api", "/handler_api.php"}

// routes registers every route. Paths are matched as sent (no cleaning, the
// encoded form kept), so that pass-through forwards them unchanged; the
// legacy endpoint is every path that the original's web server would have
// run the script for (see isLegacyPath).
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter().UseEncodedPath().SkipClean(true)
	r.MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool { return isLegacyPath(req.URL.EscapedPath()) }).
		Handler(s.legacy)
	if s.opt.Origin != nil {
		r.PathPrefix("/").Handler(s.handlePassthrough())
	} else {
		r.NotFoundHandler = http.NotFoundHandler()
	}
	return r
}

// isLegacyPath reports whether an escaped request path reaches the legacy
// script the way Apache with PHP resolves it: percent escapes decoded (but
// an encoded "/" or NUL is refused, as AllowEncodedSlashes Off does),
// repeated slashes merged, "." and ".." resolved, and after a ".php" script
// any "/..." taken as PATH_INFO. Case matters and ";" is part of the name,
// as on the original's file system.
func isLegacyPath(escaped string) bool {
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%00") {
		return false
	}
	p, err := url.PathUnescape(escaped)
	if err != nil || !strings.HasPrefix(p, "/") {
		return false
	}
	p = path.Clean(p)
	for _, lp := range legacyPaths {
		if p == lp || (strings.HasSuffix(lp, ".php") && strings.HasPrefix(p, lp+"/")) {
			return true
		}
	}
	return false
}
