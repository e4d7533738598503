package shim

import (
	"errors"
	"net/url"
)

// redactErr is the text of err with the query of any URL in it removed: a
// pass-through URL may carry an API key in its query string.
func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		where := "(unparsable URL)"
		if perr == nil {
			u.RawQuery, u.User, u.Fragment = "", nil, ""
			where = u.String()
		}
		return ue.Op + " " + where + ": " + redactErr(ue.Err)
	}
	return err.Error()
}
