package countries

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// newResolver returns a Resolver over the built-in table.
func newResolver(tb testing.TB, size int) *Resolver {
	tb.Helper()
	r, err := NewResolver(Builtin(), size)
	if err != nil {
		tb.Fatalf("NewResolver: %v", err)
	}
	return r
}

func TestResolve(t *testing.T) {
	const none = -1
	tests := []struct {
		name  string
		input string
		want  int // row ID, or none
	}{
		// IDs: the very row, canonical decimal only.
		{"id zero", "0", 0},
		{"id turkey", "62", 62},
		{"id usa", "187", 187},
		{"id usa virtual", "12", 12},
		{"id last", "204", 204},
		{"id with spaces", "  62 ", 62},
		{"id gap", "200", none},
		{"id leading zero", "062", none},
		{"id double zero", "00", none},
		{"id plus", "+1", none},
		{"id minus", "-1", none},
		{"id overflow", "99999999999999999999999", none},
		{"id fraction", "62.0", none},
		// ISO codes: the primary row, any case.
		{"iso TR", "TR", 62},
		{"iso tr", "tr", 62},
		{"iso Tr", "Tr", 62},
		{"iso us", "us", 12},
		{"iso US", "US", 12},
		{"iso ru", "ru", 0},
		{"iso with spaces", " gb ", 16},
		{"iso with dot", "tr.", 62},
		{"iso unknown", "zz", none},
		{"not iso but alias", "uk", 16},
		// Slugs, aliases and English names.
		{"slug", "turkey", 62},
		{"english name", "Turkey", 62},
		{"alias", "turkiye", 62},
		{"upper case", "TURKEY", 62},
		{"slug underscore", "south_africa", 31},
		{"name with space", "South Africa", 31},
		{"slug hyphen", "south-africa", 31},
		{"english name one word", "Southafrica", 31},
		{"many separators", "__South  -Africa ", 31},
		{"usa alias", "usa", 187},
		{"USA english", "USA", 187},
		{"united states", "united states", 187},
		{"united states of america", "United_States_of_America", 187},
		{"english name with brackets", "USA (virtual)", 12},
		{"usa virtual slug", "usa-virtual", 12},
		{"england", "England", 16},
		{"great britain", "great britain", 16},
		{"cote d'ivoire", "Cote d'Ivoire", 27},
		{"kosovo without english name", "kosovo", 203},
		{"gibraltar", "Gibraltar", 201},
		// Junk.
		{"empty", "", none},
		{"spaces only", "   ", none},
		{"unknown name", "atlantis", none},
		{"separators only", "-_- ", none},
		{"digits in name", "6-2", none},
		{"russian name", "Турция", none},
		{"unicode junk", "🇹🇷", none},
		// Look-alikes are folded (Fold), as for services.
		{"zero width", "tur\u200bkey", 62},
		{"kelvin sign", "\u212Aenya", 8},
		{"fullwidth iso", "\uff34\uff32", 62},
		{"only format characters", "\u200b\u200d", none},
		{"replacement char", "turkey\uFFFD", none},
		{"invalid utf8", "turk\xffey", none},
		{"nul", "tr\x00", none},
		{"tab", "\ttr", none},
		{"newline", "62\n", none},
		{"at limit", strings.Repeat(" ", MaxInputLen-6) + "turkey", 62},
		{"over limit", strings.Repeat(" ", MaxInputLen-5) + "turkey", none},
		{"long junk", strings.Repeat("x", 10_000), none},
	}
	r := newResolver(t, 0)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for pass := range 2 { // the second pass is served from the cache
				c, ok := r.Resolve(tc.input)
				switch {
				case tc.want == none && ok:
					t.Errorf("pass %d: Resolve(%q) = %d, want none", pass, tc.input, c.ID)
				case tc.want != none && !ok:
					t.Errorf("pass %d: Resolve(%q) found none, want %d", pass, tc.input, tc.want)
				case ok && c.ID != tc.want:
					t.Errorf("pass %d: Resolve(%q) = %d, want %d", pass, tc.input, c.ID, tc.want)
				}
				if want, _ := r.Table().ByID(c.ID); ok && c.Slug != want.Slug {
					t.Errorf("Resolve(%q) = %+v, not the table's row %+v", tc.input, c, want)
				}
			}
		})
	}
}

func TestResolveCacheAndStats(t *testing.T) {
	r := newResolver(t, 8)
	steps := []struct {
		input              string
		hits, misses, size uint64
	}{
		{"tr", 0, 1, 1},
		{"tr", 1, 1, 1},
		{"TR", 1, 2, 2},       // keyed by the raw input
		{"atlantis", 1, 3, 3}, // misses are cached too
		{"atlantis", 2, 3, 3}, //
		{"tr\x00", 2, 4, 3},   // refused: not cached
		{"tr\x00", 2, 5, 3},   //
		{strings.Repeat("a", MaxInputLen+1), 2, 6, 3},
	}
	for i, s := range steps {
		r.Resolve(s.input)
		hits, misses := r.Stats()
		if hits != s.hits || misses != s.misses || uint64(r.CacheLen()) != s.size {
			t.Errorf("step %d Resolve(%q): hits %d misses %d len %d, want %d %d %d",
				i, s.input, hits, misses, r.CacheLen(), s.hits, s.misses, s.size)
		}
	}
}

// TestResolveMemoryBound resolves a million distinct junk inputs and checks
// that the cache never holds more than its size.
func TestResolveMemoryBound(t *testing.T) {
	const size = 1024
	r := newResolver(t, size)
	buf := make([]byte, 0, 32)
	for i := range 1_000_000 {
		buf = strconv.AppendInt(append(buf[:0], "junk-"...), int64(i), 36)
		if c, ok := r.Resolve(string(buf)); ok {
			t.Fatalf("Resolve(%q) = %d, want none", buf, c.ID)
		}
		if n := r.CacheLen(); n > size {
			t.Fatalf("after %d inputs the cache holds %d entries, more than its size %d", i+1, n, size)
		}
	}
	if n := r.CacheLen(); n != size {
		t.Errorf("cache holds %d entries, want it full at %d", n, size)
	}
	hits, misses := r.Stats()
	if hits != 0 || misses != 1_000_000 {
		t.Errorf("Stats() = %d, %d; want 0, 1000000", hits, misses)
	}
}

func TestResolveConcurrent(t *testing.T) {
	r := newResolver(t, 16)
	inputs := []struct {
		in   string
		want int
	}{{"tr", 62}, {"187", 187}, {"us", 12}, {"South Africa", 31}, {"usa", 187}}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				in := inputs[(g+i)%len(inputs)]
				if c, ok := r.Resolve(in.in); !ok || c.ID != in.want {
					errs <- fmt.Errorf("Resolve(%q) = %d, %v; want %d", in.in, c.ID, ok, in.want)
					return
				}
				r.Resolve(fmt.Sprintf("junk-%d-%d", g, i)) // evicts
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := r.CacheLen(); n > 16 {
		t.Errorf("CacheLen() = %d, more than 16", n)
	}
}

func TestNewResolver(t *testing.T) {
	if _, err := NewResolver(nil, 0); err == nil {
		t.Error("NewResolver(nil) succeeded")
	}
	r := newResolver(t, -5)
	for i := range DefaultCacheSize + 10 {
		r.Resolve("x" + strconv.Itoa(i))
	}
	if n := r.CacheLen(); n != DefaultCacheSize {
		t.Errorf("with size -5 the cache holds %d, want DefaultCacheSize %d", n, DefaultCacheSize)
	}
}

func FuzzResolve(f *testing.F) {
	r := newResolver(f, 64)
	f.Fuzz(func(t *testing.T, input string) {
		c, ok := r.Resolve(input)
		c2, ok2 := r.Resolve(input) // possibly from the cache
		if ok != ok2 || c.ID != c2.ID {
			t.Fatalf("Resolve(%q) gave %d, %v then %d, %v", input, c.ID, ok, c2.ID, ok2)
		}
		if !ok {
			return
		}
		if len(input) > MaxInputLen {
			t.Fatalf("Resolve(%q) resolved an input over %d bytes", input, MaxInputLen)
		}
		back, ok := r.Resolve(strconv.Itoa(c.ID))
		if !ok || back.ID != c.ID {
			t.Fatalf("Resolve(%q) = %d, but Resolve(%q) = %d, %v", input, c.ID, strconv.Itoa(c.ID), back.ID, ok)
		}
		if row, _ := r.Table().ByID(c.ID); row.Slug != c.Slug || row.ISO != c.ISO {
			t.Fatalf("Resolve(%q) = %+v, not the table's row %+v", input, c, row)
		}
	})
}

func BenchmarkResolveHit(b *testing.B) {
	r := newResolver(b, 0)
	r.Resolve("South Africa")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.Resolve("South Africa"); !ok {
			b.Fatal("not resolved")
		}
	}
}

func BenchmarkResolveMiss(b *testing.B) {
	// More distinct inputs than the cache holds, so every call misses it.
	inputs := make([]string, 2*DefaultCacheSize)
	ids := []string{"62", "187", "0"}
	names := []string{"South Africa", "tr", "united_states"}
	for i := range inputs {
		n := i / 3
		pad := strings.Repeat(" ", n%32) + "%s" + strings.Repeat(" ", n/32%32)
		switch i % 3 {
		case 0:
			inputs[i] = "junk-" + strconv.Itoa(i)
		case 1:
			inputs[i] = fmt.Sprintf(pad, ids[n/1024])
		default:
			inputs[i] = fmt.Sprintf(pad, names[n/1024])
		}
	}
	r := newResolver(b, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Resolve(inputs[i%len(inputs)])
		i++
	}
	if hits, _ := r.Stats(); hits != 0 {
		b.Fatalf("%d cache hits, want none", hits)
	}
}
