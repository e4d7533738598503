package translate

import "strings"

// PurchaseOptions are the getNumber and getNumberV2 options that the native
// API has no field for, once read. The shim never drops one silently: what
// it cannot honour is refused (see ParsePurchaseOptions).
type PurchaseOptions struct {
	// Exclude are the phoneException prefixes, digits only with the
	// country code first ("7918"). A number that starts with one is never
	// handed out.
	Exclude []string
}

// Excluded reports whether phone, as the native API gives it ("+90 555
// ..." or digits), starts with an excluded prefix.
func (o PurchaseOptions) Excluded(phone string) bool {
	if len(o.Exclude) == 0 {
		return false
	}
	if d, err := digits(phone); err == nil {
		phone = d
	}
	for _, p := range o.Exclude {
		if strings.HasPrefix(phone, p) {
			return true
		}
	}
	return false
}

// maxExclusions bounds the phoneException list, as the original did.
const maxExclusions = 20

// ParsePurchaseOptions reads the purchase options of r:
//   - phoneException: a comma list of at most 20 prefixes, each 4 to 15
//     digits (country code and 3 or more digits, an optional leading "+");
//     anything else is WRONG_EXCEPTION_PHONE.
//   - forward=1 (a number with call forwarding), activationType 1 (number
//     by its last digits) or 2 (voice), verification=true (a number for call
//     verification): the native API sells none of these, so NO_NUMBERS.
//     "", "0" (and "false") are the plain purchase; any other value is
//     BAD_ACTION.
func ParsePurchaseOptions(r Request) (PurchaseOptions, error) {
	var o PurchaseOptions
	if list := strings.TrimSpace(r.PhoneException); list != "" {
		for _, p := range strings.Split(list, ",") {
			p = strings.TrimPrefix(strings.TrimSpace(p), "+")
			if len(p) < 4 || len(p) > 15 || strings.Trim(p, "0123456789") != "" || len(o.Exclude) == maxExclusions {
				return PurchaseOptions{}, fail(WrongExceptionPhone)
			}
			o.Exclude = append(o.Exclude, p)
		}
	}
	for _, f := range []struct{ value, on1, on2 string }{
		{r.Forward, "1", "true"},
		{r.ActivationType, "1", "2"},
		{r.Verification, "1", "true"},
	} {
		switch strings.ToLower(strings.TrimSpace(f.value)) {
		case "", "0", "false":
		case f.on1, f.on2:
			return PurchaseOptions{}, fail(NoNumbers)
		default:
			return PurchaseOptions{}, fail(BadAction)
		}
	}
	return o, nil
}
