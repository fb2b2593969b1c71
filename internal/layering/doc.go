// Package layering holds the test that keeps authd's package dependencies
// what docs/design.md says they are: the table of what each package
// imports, read from the design itself and compared with the code's own
// imports, and the rule that what a protected service imports pulls in
// none of the server's packages or drivers.
package layering
