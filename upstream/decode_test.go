package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"testing/iotest"
)

// FuzzActivationDecoder holds decodeActivationBody to what it replaces,
// encoding/json's Decoder over a capReader: for any body, limit, read size
// and read failure, the same Activation and the same error.
func FuzzActivationDecoder(f *testing.F) {
	for _, name := range []string{"activation_waiting.json", "activation_received.json", "activations_page.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, int64(4096), uint8(0))
		f.Add(b, int64(len(b)), uint8(1))
		f.Add(b, int64(len(b)/2), uint8(2))
	}
	for _, s := range []string{
		`{"id":"a","status":"WAITING","smsCode":null,"smsText":null,"userCost":"0.50","createdAt":"2026-05-01T10:00:00Z","expiresAt":"2026-05-01T10:20:00+03:00"}`,
		`{"id":"a","ID":"b","status":"WAITING"}`,
		`{"id":"a","status":"WAITING","operator":"mts","extra":null,"flag":true,"no":false,"n":1}`,
		`{"id":"a","status":"WAITING","userCost":1.5}`,
		`{"id":"a","status":"WAITING","userCost":"NaN"}`,
		`{"id":"a","status":"WAITING","smsCode":"12\u00345","smsText":"\u00e9t\u00e9"}`,
		`{"id":"a","status":"WAITING","createdAt":"2026-13-01T10:00:00Z"}`,
		`{"id":"a","status":"WAITING","createdAt":null,"id":null}`,
		`{"id":"a","statuſ":"WAITING","counTRYiso":"TR"}`,
		"\t{ \"id\" : \"a\" ,\r\n\"status\":\"W\" } \n",
		`{"id":"a","status":"WAITING"}trailing`,
		`{"id":"a","status":"WAITING"`,
		`{"id":"\xff","status":"WAITING"}`,
		`{}`, `null`, ``, `[]`, `{"id":"a",}`, `{"id":"a" "status":"b"}`, `{"smsCode":nul}`, `{"smsCode":true}`,
	} {
		f.Add([]byte(s), int64(4096), uint8(0))
		f.Add([]byte(s), int64(10), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, limit int64, mode uint8) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		body := func() io.Reader {
			var r io.Reader = bytes.NewReader(b)
			if mode&2 != 0 {
				r = io.MultiReader(r, iotest.ErrReader(errors.New("connection reset")))
			}
			if mode&1 != 0 {
				r = iotest.OneByteReader(r)
			}
			return r
		}
		var want, got Activation
		wantErr := json.NewDecoder(&capReader{r: body(), left: limit}).Decode(&want)
		gotErr := decodeActivationBody(body(), limit, &got)
		if int64(len(b)) > limit {
			// Over the limit, what the Decoder saw depended on the reads:
			// too large, or what the first value alone decodes to.
			want, wantErr = Activation{}, json.NewDecoder(body()).Decode(&want)
			if errors.Is(gotErr, errBodyTooLarge) {
				return
			}
		}
		if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
			t.Fatalf("body %q limit %d mode %d: error %v, want %v", b, limit, mode, gotErr, wantErr)
		}
		if errors.Is(wantErr, errBodyTooLarge) != errors.Is(gotErr, errBodyTooLarge) || isReadErr(wantErr) != isReadErr(gotErr) {
			t.Fatalf("body %q: error %#v, want %#v", b, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q: decoded %+v, want %+v", b, got, want)
		}
	})
}

// TestActivationDecoderFastPath checks that the native API's own bodies
// take the hand-rolled path, not encoding/json's.
func TestActivationDecoderFastPath(t *testing.T) {
	for _, name := range []string{"activation_waiting.json", "activation_received.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var a Activation
		if !decodeActivation(b, &a) {
			t.Fatalf("%s: not decoded by decodeActivation", name)
		}
		if err := validActivation(&a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
