package shim

import (
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// accessLog writes access lines straight to a writer, as the JSON lines
// that slog.NewJSONHandler with no options would write for them, byte for
// byte, in one Write each (see Options.AccessLog). slog's handler spends
// most of a poll's in-process time on the line: a Record, a state, a
// reflective json.Marshal for the one float (duration_ms).
type accessLog struct {
	w    io.Writer
	bufs sync.Pool
}

func newAccessLog(w io.Writer) *accessLog {
	return &accessLog{w: w, bufs: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

// write writes one line at level Info, or reports false, writing
// nothing, when an attribute is of a kind it does not write as slog would
// (the caller then logs the line through slog).
func (l *accessLog) write(t time.Time, msg string, attrs []slog.Attr) bool {
	bp := l.bufs.Get().(*[]byte)
	b, ok := appendJSONLine((*bp)[:0], t, msg, attrs)
	if ok {
		_, _ = l.w.Write(b)
	}
	*bp = b
	l.bufs.Put(bp)
	return ok
}

// appendJSONLine appends the JSON line slog.JSONHandler writes for a
// record at time t, level Info, with msg and attrs, which must be of kind
// String, Int64, Uint64, Bool or (finite) Float64; ok is false otherwise.
func appendJSONLine(b []byte, t time.Time, msg string, attrs []slog.Attr) (_ []byte, ok bool) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return b, false
	}
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":`...)
	b = appendJSONString(b, msg)
	for _, a := range attrs {
		if a.Key == "" {
			return b, false // slog drops it; so would we, but rarely
		}
		b = append(b, ',')
		b = appendJSONString(b, a.Key)
		b = append(b, ':')
		v := a.Value
		switch v.Kind() {
		case slog.KindString:
			b = appendJSONString(b, v.String())
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindFloat64:
			f := v.Float64()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return b, false
			}
			b = appendJSONFloat(b, f)
		default:
			return b, false
		}
	}
	return append(b, "}\n"...), true
}

// appendJSONFloat writes f as encoding/json does (and so slog, which
// calls it): 'f' format, or 'e' with a one-digit negative exponent
// unpadded for the very small and very large.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 -> e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONString writes s quoted as slog's JSON handler does: ", \ and
// control characters escaped (\n, \r, \t by name), invalid UTF-8 as
// \ufffd, U+2028 and U+2029 escaped; <, > and & as they are.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
