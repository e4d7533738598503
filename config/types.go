package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
)

// Origin is the origin of the native backend: an http or https URL with a
// host, no credentials and no path, query or fragment (a trailing slash is
// dropped). It parses from text
// (encoding.TextUnmarshaler), so a bad value is refused when the
// configuration is read. The zero value is unset.
type Origin struct{ u *url.URL }

// UnmarshalText sets o from an origin URL such as https://smsbulk.net. It
// refuses any other scheme, a missing host, user:password and a path; its errors
// never hold a password. On an error o is unchanged.
func (o *Origin) UnmarshalText(text []byte) error {
	u, err := url.Parse(strings.TrimRight(string(text), "/"))
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return errors.New("not a URL")
	}
	switch {
	case u.User != nil:
		return errors.New("must not carry credentials")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return fmt.Errorf("%q is not an http(s) origin", u.Redacted())
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q has a path, query or fragment: give the origin only (%s://%s); the shim appends %sNATIVE_PREFIX itself",
			u.Redacted(), u.Scheme, u.Host, Prefix)
	}
	o.u = u
	return nil
}

// URL returns a copy of the origin, or nil when it is unset. Changing the
// copy does not change o.
func (o Origin) URL() *url.URL {
	if o.u == nil {
		return nil
	}
	u := *o.u
	return &u
}

// String returns the origin, or "" when it is unset.
func (o Origin) String() string {
	if o.u == nil {
		return ""
	}
	return o.u.String()
}

// LogLevel is the lowest level logged: debug, info, warn or error, read in
// any case (encoding.TextUnmarshaler). The zero value is info. It is a
// slog.Leveler.
type LogLevel slog.Level

// UnmarshalText sets l from debug, info, warn or error in any case. Unlike
// slog.Level it refuses offsets such as "info+2". On an error l is
// unchanged.
func (l *LogLevel) UnmarshalText(text []byte) error {
	switch strings.ToLower(string(text)) {
	case "debug":
		*l = LogLevel(slog.LevelDebug)
	case "info":
		*l = LogLevel(slog.LevelInfo)
	case "warn":
		*l = LogLevel(slog.LevelWarn)
	case "error":
		*l = LogLevel(slog.LevelError)
	default:
		return fmt.Errorf("%q: want debug, info, warn or error", text)
	}
	return nil
}

// Level returns l as a slog.Level (slog.Leveler).
func (l LogLevel) Level() slog.Level { return slog.Level(l) }

// String returns the level's name, as slog.Level does.
func (l LogLevel) String() string { return slog.Level(l).String() }

// Prefixes is a comma-separated list of IP addresses and CIDR prefixes,
// such as "10.0.0.0/8, 192.0.2.7"; an address is a prefix of its full
// length. The empty string is none.
type Prefixes []netip.Prefix

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Prefixes) UnmarshalText(text []byte) error {
	var out Prefixes
	for f := range strings.SplitSeq(string(text), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if pr, err := netip.ParsePrefix(f); err == nil {
			out = append(out, pr.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return fmt.Errorf("%q is not an IP address or CIDR prefix", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	*p = out
	return nil
}

// String returns the list as UnmarshalText reads it.
func (p Prefixes) String() string {
	s := make([]string, len(p))
	for i, pr := range p {
		s[i] = pr.String()
	}
	return strings.Join(s, ",")
}
