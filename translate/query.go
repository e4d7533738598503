package translate

import "strings"

// ParseQuery reads a Request from one raw urlencoded query (or form body)
// within l, exactly as Check and ParseRequest read ParseParams(raw), but
// without building the url.Values: it keeps only the parameters Request
// holds, as substrings of raw when they carry no escape. A GET poll is
// parsed without an allocation. Over a limit is BAD_ACTION; l's zero
// fields are not defaulted (pass l.WithDefaults()). MaxQueryBytes and
// MaxBodyBytes are the reader's to enforce, as for Check.
func ParseQuery(raw string, l Limits) (Request, error) {
	var (
		got [len(params)]string
		// padKey is the smallest padded name ("country ") seen for a
		// parameter sent without its exact name: ParseRequest takes that
		// one's first value.
		padKey [len(params)]string
		state  [len(params)]uint8
		n      int
	)
	const (
		none = iota
		padded
		exact
	)
	for s := raw; s != ""; {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		if n++; n > l.MaxParams {
			return Request{}, fail(BadAction)
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name := unescapeParam(rawName)
		if len(name) > l.MaxParamBytes {
			return Request{}, fail(BadAction)
		}
		i, isExact := paramIndex(name)
		if i < 0 {
			// A parameter the shim does not read counts only against
			// the limits; unescaping shrinks, so a short raw value is
			// short enough.
			if len(rawValue) > l.MaxParamBytes && len(unescapeParam(rawValue)) > l.MaxParamBytes {
				return Request{}, fail(BadAction)
			}
			continue
		}
		value := unescapeParam(rawValue)
		if len(value) > l.MaxParamBytes {
			return Request{}, fail(BadAction)
		}
		switch {
		case state[i] == exact:
		case isExact:
			got[i], state[i] = value, exact
		case state[i] == none || name < padKey[i]:
			got[i], padKey[i], state[i] = value, name, padded
		}
	}
	return requestOf(&got), nil
}

// paramIndex is the index in params of name, or of name trimmed of white
// space (exact false), or -1.
func paramIndex(name string) (i int, exact bool) {
	for i, p := range params {
		if name == p {
			return i, true
		}
	}
	trimmed := strings.TrimSpace(name)
	if len(trimmed) == len(name) {
		return -1, false
	}
	for i, p := range params {
		if trimmed == p {
			return i, false
		}
	}
	return -1, false
}

// requestOf is the Request of the values of params, in params' order: the
// one mapping that ParseRequest and ParseQuery share.
// TestParseQueryEveryParam fails when a name is added to params and not
// here.
func requestOf(got *[len(params)]string) Request {
	return Request{
		APIKey:         got[0],
		Action:         Action(got[1]),
		Service:        got[2],
		Country:        got[3],
		ID:             got[4],
		Status:         got[5],
		MaxPrice:       got[6],
		Operator:       got[7],
		PhoneException: got[8],
		Forward:        got[9],
		ActivationType: got[10],
		Verification:   got[11],
		FreePrice:      got[12],
		Start:          got[13],
		Length:         got[14],
		RequestID:      got[15],
		Wait:           got[16],
		Callback:       got[17],
	}
}
