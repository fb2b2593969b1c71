// Package spell finds the name someone most likely meant, so that an
// unknown flag, command or method name can be answered with "did you mean".
package spell

import "strings"

// Closest returns the candidate nearest to word by edit distance (ignoring
// case), and false when none is near enough to be a likely typo: at most
// a third of word's length, and at least 2, edits away.
func Closest(word string, candidates []string) (string, bool) {
	best, bestDist := "", -1
	w := strings.ToLower(word)
	for _, c := range candidates {
		d := distance(w, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > max(2, len(word)/3) {
		return "", false
	}
	return best, true
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
