// Package pgerr recognizes PostgreSQL errors by their SQLSTATE code and constraint name, never by
// their message, so that handlers can turn an invariant the schema enforces (a unique email, an
// existing company) into the documented answer.
package pgerr

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes of the integrity violations the handlers answer.
const (
	UniqueViolation     = "23505"
	ForeignKeyViolation = "23503"
)

// Is reports whether err (or an error it wraps) is a PostgreSQL error with the given code on the
// given constraint (or index) name.
func Is(err error, code, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code && pgErr.ConstraintName == constraint
}

// IsUniqueViolation reports whether err violates the unique constraint or index named.
func IsUniqueViolation(err error, constraint string) bool {
	return Is(err, UniqueViolation, constraint)
}

// IsForeignKeyViolation reports whether err violates the foreign key named.
func IsForeignKeyViolation(err error, constraint string) bool {
	return Is(err, ForeignKeyViolation, constraint)
}
