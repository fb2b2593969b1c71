package store

import (
	"strings"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// NameKey is the form usernames are unique under, and looked up by when
// no user has the exact name: RFC 8265's UsernameCaseMapped profile
// (precis.UsernameCaseMapped: fullwidth forms mapped to their ASCII,
// lower case, NFC), so that "Alice", "alice", "ａｌｉｃｅ" and one name
// in NFC and NFD are one name. A name the profile refuses (one created
// before names had to conform, such as "bad name") is keyed by its NFKC
// lower case, which no conforming name has.
func NameKey(name string) string {
	if k, err := precis.UsernameCaseMapped.String(name); err == nil && k != "" {
		return k
	}
	return strings.ToLower(norm.NFKC.String(name))
}
