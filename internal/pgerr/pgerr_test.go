package pgerr_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/plano/planoauth/internal/pgerr"
)

func TestIs(t *testing.T) {
	unique := &pgconn.PgError{Code: pgerr.UniqueViolation, ConstraintName: "users_email_key"}
	wrapped := fmt.Errorf("create user: %w", unique)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"OK", unique, true},
		{"Wrapped", wrapped, true},
		{"ErrOtherConstraint", &pgconn.PgError{Code: pgerr.UniqueViolation, ConstraintName: "clients_user_id_key"}, false},
		{"ErrOtherCode", &pgconn.PgError{Code: pgerr.ForeignKeyViolation, ConstraintName: "users_email_key"}, false},
		{"ErrNotPostgres", fmt.Errorf("users_email_key %s", pgerr.UniqueViolation), false},
		{"ErrNil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pgerr.IsUniqueViolation(tc.err, "users_email_key"); got != tc.want {
				t.Errorf("IsUniqueViolation(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	fk := &pgconn.PgError{Code: pgerr.ForeignKeyViolation, ConstraintName: "clients_company_id_fkey"}
	if !pgerr.IsForeignKeyViolation(fk, "clients_company_id_fkey") {
		t.Errorf("IsForeignKeyViolation missed %v", fk)
	}
}
