// Package clock provides the time source that authd's packages take by
// injection, so tests can move time instead of sleeping.
package clock
