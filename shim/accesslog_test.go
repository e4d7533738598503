package shim

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"testing"
	"time"
)

// accessAttrs are the attributes of an access line made of the fuzzer's
// values, in the kinds appendJSONLine writes.
func accessAttrs(s1, s2 string, i int64, f float64, on bool) []slog.Attr {
	return []slog.Attr{
		slog.String("trace_id", s1),
		slog.String("path", s2),
		slog.Float64("duration_ms", f),
		slog.Int64("legacy_id", i),
		slog.Uint64("u", uint64(i)),
		slog.Bool("sandbox", on),
		slog.String(s1, s2),
	}
}

// FuzzAccessLine checks that appendJSONLine writes, byte for byte, what
// slog.NewJSONHandler writes for the same record, for any strings (quotes,
// control characters, invalid UTF-8, U+2028), integers and floats (the
// 'e' format of the very small and very large), or declines.
func FuzzAccessLine(f *testing.F) {
	f.Add("8a5e6244731b728a06c10bf2fc848fdd", "/stubs/handler_api.php", int64(100000001), 0.459, true, int64(1764627005575131348))
	f.Add("q\"u\\o\nte\r\t\x01\x7f", "<&>\u2028\u2029\xff\xfe", int64(-1), 1e-7, false, int64(0))
	f.Add("", "é日本", int64(math.MaxInt64), 1e21, true, int64(-1))
	f.Add("x", "y", int64(0), 0.0, false, int64(253402300800000000))
	f.Add("x", "y", int64(0), math.Inf(1), false, int64(1))
	f.Add("x", "y", int64(0), -123456.789, false, int64(1))
	f.Fuzz(func(t *testing.T, s1, s2 string, i int64, fl float64, on bool, ns int64) {
		at := time.Unix(0, ns).UTC()
		attrs := accessAttrs(s1, s2, i, fl, on)
		got, ok := appendJSONLine(nil, at, "legacy request", attrs)
		var want bytes.Buffer
		r := slog.NewRecord(at, slog.LevelInfo, "legacy request", 0)
		r.AddAttrs(attrs...)
		err := slog.NewJSONHandler(&want, nil).Handle(context.Background(), r)
		if !ok {
			// Declined: slog must have a reason to differ (a year it
			// refuses, an empty key, a float json cannot write).
			if err == nil && s1 != "" && !math.IsNaN(fl) && !math.IsInf(fl, 0) && at.Year() >= 0 && at.Year() < 10000 {
				t.Fatalf("declined a line slog writes: %s", want.Bytes())
			}
			return
		}
		if err != nil {
			t.Fatalf("wrote %s where slog fails: %v", got, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("line differs from slog's:\n got %s\nwant %s", got, want.Bytes())
		}
	})
}

// TestAccessLogOneWrite: one line is one Write, so that lines written from
// many goroutines to one file never interleave.
func TestAccessLogOneWrite(t *testing.T) {
	t.Parallel()
	var w countingWriter
	l := newAccessLog(&w)
	for range 3 {
		if !l.write(time.Now(), "legacy request", accessAttrs("a", "b", 1, 0.5, true)) {
			t.Fatal("declined")
		}
	}
	if w.writes != 3 || bytes.Count(w.buf.Bytes(), []byte("\n")) != 3 {
		t.Errorf("%d writes, %q", w.writes, w.buf.Bytes())
	}
	if l.write(time.Now(), "legacy request", []slog.Attr{slog.Any("x", struct{}{})}) || w.writes != 3 {
		t.Error("a kind it cannot write was written")
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}
