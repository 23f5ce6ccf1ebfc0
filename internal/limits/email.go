package limits

import "strings"

// normalizeEmail is the form emails are compared in (the users table's unique index is on
// lower(email)).
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
