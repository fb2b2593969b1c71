// Package postgres is the store for several authd instances sharing one
// PostgreSQL database (pgx/v5 through database/sql): the same queries as
// SQLite (internal/sqlstore), with versioned migrations applied at start
// under an advisory lock so instances starting together do not race.
package postgres
