// Package readme holds the test that README's code is copied from code the
// project compiles and tests: every go, proto and ts block of the sections
// that say so stands, line for line, in the files they name.
package readme
