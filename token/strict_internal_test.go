package token

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// FuzzMemberNames: for every valid JSON object, the fast scanner lists the
// same top-level member names, in order, as encoding/json's decoder does.
func FuzzMemberNames(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":1}`, `{"a":"}","b":[1,{"c":"]"}],"d":null}`, `{"s\u0075b":"x","sub":"y"}`,
		`{ "a" : { "b" : "\"" } , "c" : true }`, `{"a":1.5e3,"b":-0,"c":false}`, `[1]`, `{"a":}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := memberNames(b)
		if !json.Valid(b) {
			return // the scanner may accept it; the JSON decoder refuses it later
		}
		want, isObject := decoderNames(b)
		if !isObject {
			if err == nil {
				t.Fatalf("%q: not an object, scanner found %q", b, got)
			}
			return
		}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("%q: scanner %q, %v; decoder %q", b, got, err, want)
		}
	})
}

func decoderNames(b []byte) ([]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	names := []string{}
	for dec.More() {
		t, _ := dec.Token()
		names = append(names, t.(string))
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	return names, true
}
