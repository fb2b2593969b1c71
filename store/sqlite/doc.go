// Package sqlite is the embedded default store: a single SQLite file
// (modernc.org/sqlite, pure Go) in WAL mode, with versioned migrations
// applied on open.
package sqlite
