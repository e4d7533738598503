package shim

import "net/http"

// closeAfterTransferEncoding closes the connection after every HTTP/1
// request that came with a Transfer-Encoding. Go's server reads such a
// request by its Transfer-Encoding and deletes any Content-Length before a
// handler sees it, so a request that carried both (a smuggling primitive
// behind a front proxy that prefers Content-Length) cannot be told apart
// from a plain chunked one; RFC 9112 section 6.1 says to close the
// connection after it, and closing after every chunked request does that at
// the cost of a new connection for the rare client that sends one. Nothing
// pipelined behind such a request is read.
func closeAfterTransferEncoding(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close")
			r.Close = true
		}
		h.ServeHTTP(w, r)
	})
}
