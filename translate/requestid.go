package translate

// MaxRequestIDLen is the longest requestId accepted, in bytes.
const MaxRequestIDLen = 64

// ParseRequestID reads getNumber's and getNumberV2's optional requestId,
// which makes a retried purchase safe: "" is none; otherwise 1 to 64
// printable ASCII characters (space to ~), taken as sent, untrimmed, so
// that two values that differ are two requests. Anything else is
// BAD_ACTION, before anything is bought.
func ParseRequestID(s string) (string, error) {
	if len(s) > MaxRequestIDLen {
		return "", fail(BadAction)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return "", fail(BadAction)
		}
	}
	return s, nil
}
