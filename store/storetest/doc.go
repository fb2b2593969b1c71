// Package storetest is the conformance suite every store backend must pass:
// run it from the backend's tests with a function that opens an empty store.
package storetest
