package translate

import "fmt"

// Profile chooses the shape of the answers. The translation is the same in
// both; only the bytes of the JSON actions and the HTTP statuses of errors
// differ, and that choice is made at the edge (Render*, Status).
type Profile uint8

const (
	// ProfileSMSActivate answers exactly as the original sms-activate
	// service did: HTTP 200 for every protocol answer, getCountries as an
	// object keyed by ID, getNumbersStatus keyed <service>_0 with counts as
	// JSON strings, BAD_ACTION for an unknown action. It is the default.
	ProfileSMSActivate Profile = iota
	// ProfileSMSBulk answers as SMSBulk's compatibility page shows:
	// getCountries as [{"id":..,"iso":..}], getNumbersStatus keyed
	// <service>_<countryId> with integer counts, WRONG_ACTION for an
	// unknown action, and the HTTP status of SMSBulk's errors page for
	// each error code.
	ProfileSMSBulk
)

// ParseProfile reads a profile name: "sms-activate" (or "") or "smsbulk".
func ParseProfile(s string) (Profile, error) {
	switch s {
	case "", "sms-activate":
		return ProfileSMSActivate, nil
	case "smsbulk":
		return ProfileSMSBulk, nil
	}
	return 0, fmt.Errorf("unknown answer profile %q (want sms-activate or smsbulk)", s)
}

// String returns the profile's name as ParseProfile reads it.
func (p Profile) String() string {
	if p == ProfileSMSBulk {
		return "smsbulk"
	}
	return "sms-activate"
}

// UnmarshalText sets p from its name, as ParseProfile reads it, so that a
// Profile can be a configuration field (encoding.TextUnmarshaler). On an
// error p is unchanged.
func (p *Profile) UnmarshalText(text []byte) error {
	v, err := ParseProfile(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText returns the profile's name (encoding.TextMarshaler).
func (p Profile) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
