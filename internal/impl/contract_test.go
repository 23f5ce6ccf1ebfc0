package impl_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plano/planoauth/internal/apitest"
	"github.com/plano/planoauth/internal/auth"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mfa"
	pw "github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/server"
	"github.com/plano/planoauth/internal/spec"
	"github.com/plano/planoauth/internal/webhooks"
)

// TestScopesMatchContract ties the scopes seeded in the database to the contract's x-scope: a
// scope granted to an application or a role that no operation asks for is a typo or a leftover,
// and an operation whose scope nobody holds cannot be called.
func TestScopesMatchContract(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	asked := map[string]bool{}
	for _, op := range env.Spec.Operations() {
		if op.Scope != "" {
			asked[op.Scope] = true
		}
	}
	granted := map[string]bool{}
	rows, err := env.Pool.Query(context.Background(),
		`SELECT unnest(scopes) FROM applications UNION SELECT unnest(scopes) FROM role_scopes`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var scope string
		if err := rows.Scan(&scope); err != nil {
			t.Fatal(err)
		}
		granted[scope] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if extra := missingFrom(granted, asked); len(extra) > 0 {
		t.Errorf("scopes granted that no operation's x-scope names: %v", extra)
	}
	if unheld := missingFrom(asked, granted); len(unheld) > 0 {
		t.Errorf("x-scopes that no application or role is granted: %v", unheld)
	}
}

// missingFrom lists the keys of a that b lacks, sorted.
func missingFrom(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestNumbersMatchContract checks that the numbers the code enforces are the ones the contract
// states, structurally (maxItems, maxLength), which clients and the harness's answer validation
// see, or in the text its readers see.
func TestNumbersMatchContract(t *testing.T) {
	t.Parallel()
	s := apitest.Spec(t)
	defaults := policyDefaults(t, apitest.New(t))
	if defaults.lifetime != defaultLifetime || defaults.idle != defaultIdleTimeout || defaults.rememberMe != nil {
		t.Errorf("the schema's default session policy is %+v, the tests' is %s and %s without a remember_me cap",
			defaults, defaultLifetime, defaultIdleTimeout)
	}
	prop := func(schema, property string) *openapi3.Schema {
		return s.Doc.Components.Schemas[schema].Value.Properties[property].Value
	}
	for _, tc := range []struct {
		what     string
		contract *uint64
		code     int
	}{
		{"LiaisonGrants.clients maxItems", prop("LiaisonGrants", "clients").MaxItems, impl.MaxListed},
		{"LiaisonGrants.companies maxItems", prop("LiaisonGrants", "companies").MaxItems, impl.MaxListed},
		{"SessionList.results maxItems", prop("SessionList", "results").MaxItems, impl.MaxSessionsListed},
		{"CompanyMembers.members maxItems", prop("CompanyMembers", "members").MaxItems, impl.MaxListed},
		{"CompanyMembers.requests maxItems", prop("CompanyMembers", "requests").MaxItems, impl.MaxListed},
		{"CompanyName maxLength", s.Doc.Components.Schemas["CompanyName"].Value.MaxLength, impl.MaxCompanyName},
		{"SensitiveParams maxLength", s.Doc.Components.Schemas["SensitiveParams"].Value.MaxLength, server.MaxBodyBytes},
	} {
		if tc.contract == nil || *tc.contract != uint64(tc.code) {
			t.Errorf("%s: the contract says %v, the code enforces %d", tc.what, tc.contract, tc.code)
		}
	}
	for _, tc := range []struct{ where, text, want string }{
		{"Password", s.Doc.Components.Schemas["Password"].Value.Description, fmt.Sprintf("at least %d characters", impl.MinPasswordLength)},
		{"sessions/magic_link_request", s.Operation("sessionsMagicLinkRequest").Operation.Description,
			fmt.Sprintf("within %d minutes", int(impl.MagicLinkLifetime/time.Minute))},
		{"sessions/magic_link_create", s.Operation("sessionsMagicLinkCreate").Operation.Description,
			fmt.Sprintf("the verification link of the welcome email (%d hours)", int(impl.VerificationLinkLifetime/time.Hour))},
		{"sessions/magic_link_create", s.Operation("sessionsMagicLinkCreate").Operation.Description,
			fmt.Sprintf("an invitation (%d days;", int(impl.InvitationLifetime/(24*time.Hour)))},
		{"liaisons/register", s.Operation("liaisonsRegister").Operation.Description,
			fmt.Sprintf("(`sessions/magic_link_create`, %d days,", int(impl.InvitationLifetime/(24*time.Hour)))},
		{"liaisons/register", s.Operation("liaisonsRegister").Operation.Description,
			fmt.Sprintf("at most %d invitations per %d hours", limits.Defaults.InvitationRecipients.PerRecipient,
				int(limits.Defaults.InvitationRecipients.Window/time.Hour))},
		{"clients/register", s.Operation("clientsRegister").Operation.Description,
			fmt.Sprintf("(`sessions/magic_link_create`, %d hours)", int(impl.VerificationLinkLifetime/time.Hour))},
		{"mfa/totp_enroll", s.Operation("mfaTotpEnroll").Operation.Description,
			fmt.Sprintf("within %d minutes", int(impl.TOTPEnrolmentLifetime/time.Minute))},
		{"mfa", tagDescription(s, "mfa"), fmt.Sprintf("proved its user within the last %d minutes, whatever the user has", int(impl.RecentProof/time.Minute))},
		{"mfa", tagDescription(s, "mfa"), fmt.Sprintf("belongs to the session that began it, for %d codes", impl.TOTPEnrolmentTries)},
		{"mfa", tagDescription(s, "mfa"), fmt.Sprintf("At most one email of each kind per recipient per %d minutes", int(impl.NoticeWindow/time.Minute))},
		{"mfa/totp_enroll", s.Operation("mfaTotpEnroll").Operation.Description,
			fmt.Sprintf("proved its user within the last %d minutes", int(impl.RecentProof/time.Minute))},
		{"mfa/totp_confirm", s.Operation("mfaTotpConfirm").Operation.Description,
			fmt.Sprintf("within %d minutes of its last proof", int(impl.RecentProof/time.Minute))},
		{"mfa/totp_confirm", s.Operation("mfaTotpConfirm").Operation.Description,
			fmt.Sprintf("takes one of the enrolment's %d tries", impl.TOTPEnrolmentTries)},
		{"mfa/totp_confirm", s.Operation("mfaTotpConfirm").Operation.Description,
			fmt.Sprintf("until its %s wrong code", ordinal(impl.TOTPEnrolmentTries))},
		{"mfa/recovery_codes_create", s.Operation("mfaRecoveryCodesCreate").Operation.Description,
			fmt.Sprintf("proved its user within the last %d minutes", int(impl.RecentProof/time.Minute))},
		{"mfa/passkey_register_begin", s.Operation("mfaPasskeyRegisterBegin").Operation.Description,
			fmt.Sprintf("proved its user within the last %d minutes", int(impl.RecentProof/time.Minute))},
		{"mfa/passkey_register_finish", s.Operation("mfaPasskeyRegisterFinish").Operation.Description,
			fmt.Sprintf("proved its user within the last %d minutes", int(impl.RecentProof/time.Minute))},
		{"mfa/passkey_delete", s.Operation("mfaPasskeyDelete").Operation.Description,
			fmt.Sprintf("proved its user within the last %d minutes", int(impl.RecentProof/time.Minute))},
		{"users/password_update", s.Operation("usersPasswordUpdate").Operation.Description,
			fmt.Sprintf("proved its user within the last %d minutes", int(impl.RecentProof/time.Minute))},
		{"mfa/passkey_register_begin", s.Operation("mfaPasskeyRegisterBegin").Operation.Description,
			fmt.Sprintf("kept on the server for %d minutes", int(mfa.CeremonyLifetime/time.Minute))},
		{"mfa/passkey_register_begin", s.Operation("mfaPasskeyRegisterBegin").Operation.Description,
			fmt.Sprintf("A user holds at most %d passkeys", impl.MaxPasskeysPerUser)},
		{"mfa/passkey_register_finish", s.Operation("mfaPasskeyRegisterFinish").Operation.Description,
			fmt.Sprintf("A user holds at most %d passkeys", impl.MaxPasskeysPerUser)},
		{"sessions/passkey_begin", s.Operation("sessionsPasskeyBegin").Operation.Description,
			fmt.Sprintf("kept for %d minutes", int(mfa.CeremonyLifetime/time.Minute))},
		{"mfa/recovery_codes_create", s.Operation("mfaRecoveryCodesCreate").Operation.Description,
			fmt.Sprintf("with %s new ones", numberWord(mfa.RecoveryCodeCount))},
		{"mfa/totp_verify", s.Operation("mfaTotpVerify").Operation.Description,
			fmt.Sprintf("(%d per hour for callers the account does not know, together, whatever their addresses; %d for each caller it knows",
				limits.Defaults.SecondFactors.PerAccount, limits.Defaults.SecondFactors.PerKnown)},
		{"mfa/totp_verify", s.Operation("mfaTotpVerify").Operation.Description,
			fmt.Sprintf("%d per client address", limits.Defaults.SecondFactors.PerAddress)},
		{"info", s.Doc.Info.Description, fmt.Sprintf("By default it expires %d days after creation or %d hours after its last use",
			int(defaults.lifetime/(24*time.Hour)), int(defaults.idle/time.Hour))},
		{"info", s.Doc.Info.Description, fmt.Sprintf("(%d minutes to %d days)",
			int(auth.MinPolicyDuration/time.Minute), int(auth.MaxPolicyDuration/(24*time.Hour)))},
		{"SessionPolicy.lifetime_seconds", prop("SessionPolicy", "lifetime_seconds").Description,
			fmt.Sprintf("%d (%d days) unless set", int(defaults.lifetime/time.Second), int(defaults.lifetime/(24*time.Hour)))},
		{"SessionPolicy.idle_timeout_seconds", prop("SessionPolicy", "idle_timeout_seconds").Description,
			fmt.Sprintf("%d (%d hours) unless set", int(defaults.idle/time.Second), int(defaults.idle/time.Hour))},
		{"sessions/password_reset_request", s.Operation("sessionsPasswordResetRequest").Operation.Description,
			fmt.Sprintf("an %d-digit code", auth.CodeDigits)},
		{"sessions/password_reset_request", s.Operation("sessionsPasswordResetRequest").Operation.Description,
			fmt.Sprintf("within %d minutes", int(impl.MagicLinkLifetime/time.Minute))},
		{"sessions/password_reset_request", s.Operation("sessionsPasswordResetRequest").Operation.Description,
			fmt.Sprintf("A code may be tried %d times", impl.CodeTries)},
		{"sessions/password_reset", s.Operation("sessionsPasswordReset").Operation.Description,
			fmt.Sprintf("Each code may be tried %d times", impl.CodeTries)},
		{"sessions/magic_link_request", s.Operation("sessionsMagicLinkRequest").Operation.Description,
			fmt.Sprintf("an %d-digit code for another device", auth.CodeDigits)},
		{"sessions/magic_link_create", s.Operation("sessionsMagicLinkCreate").Operation.Description,
			fmt.Sprintf("the email's %d-digit `code`", auth.CodeDigits)},
		{"sessions/magic_link_create", s.Operation("sessionsMagicLinkCreate").Operation.Description,
			fmt.Sprintf("Each code may be tried %d times", impl.CodeTries)},
		{"info", s.Doc.Info.Description, fmt.Sprintf("an %d-digit code for another device", auth.CodeDigits)},
		{"info", s.Doc.Info.Description, fmt.Sprintf("A code may be tried %d times", impl.CodeTries)},
		{"EmailCode", s.Doc.Components.Schemas["EmailCode"].Value.Description, fmt.Sprintf("The %d-digit code", auth.CodeDigits)},
		{"sessions/magic_link_create", s.Operation("sessionsMagicLinkCreate").Operation.Description,
			fmt.Sprintf("valid %d minutes", int(impl.HandoverLifetime/time.Minute))},
		{"EmailCode", s.Doc.Components.Schemas["EmailCode"].Value.Pattern, fmt.Sprintf("[0-9]{%d}", auth.CodeDigits)},
		{"Password", s.Doc.Components.Schemas["Password"].Value.Description,
			fmt.Sprintf("first %d characters", pw.ScoredRunes)},
		{"Password", s.Doc.Components.Schemas["Password"].Value.Description,
			fmt.Sprintf("below a score of %d of 4", pw.MinScore)},
		{"the audit tag", tagDescription(s, "audit"), fmt.Sprintf("during the %d hours after a secret rotation", int(webhooks.RotationOverlap/time.Hour))},
	} {
		if !strings.Contains(strings.Join(strings.Fields(tc.text), " "), tc.want) {
			t.Errorf("%s: the description does not say %q, which is what the code enforces", tc.where, tc.want)
		}
	}
}

// TestAuditKindsDescribed checks that every kind of audit event says, in the contract, what it
// records: followers of the trail and receivers of webhooks read them there.
func TestAuditKindsDescribed(t *testing.T) {
	t.Parallel()
	kind := apitest.Spec(t).Doc.Components.Schemas["AuditKind"].Value
	described, _ := kind.Extensions["x-enumDescriptions"].(map[string]any)
	for _, v := range kind.Enum {
		if text, _ := described[fmt.Sprint(v)].(string); strings.TrimSpace(text) == "" {
			t.Errorf("audit kind %v has no x-enumDescriptions entry", v)
		}
	}
	if len(described) != len(kind.Enum) {
		t.Errorf("%d descriptions for %d kinds", len(described), len(kind.Enum))
	}
}

// tagDescription is the description of the contract's tag name.
func tagDescription(s *spec.Spec, name string) string {
	for _, tag := range s.Doc.Tags {
		if tag.Name == name {
			return tag.Description
		}
	}
	return ""
}

// The default session policy (what the tests assume of the seeded applications).
const (
	defaultLifetime    = 7 * 24 * time.Hour
	defaultIdleTimeout = 72 * time.Hour
)

type sessionPolicy struct {
	lifetime, idle time.Duration
	rememberMe     *time.Duration
}

// policyDefaults reads the default session policy from the applications table's column
// defaults, where it lives.
func policyDefaults(t *testing.T, env *apitest.Env) sessionPolicy {
	t.Helper()
	var lifetime, idle int64
	var rememberMe *string
	err := env.Pool.QueryRow(context.Background(), `SELECT
		(SELECT column_default FROM information_schema.columns WHERE table_name = 'applications' AND column_name = 'session_max_age_seconds')::bigint,
		(SELECT column_default FROM information_schema.columns WHERE table_name = 'applications' AND column_name = 'session_idle_timeout_seconds')::bigint,
		(SELECT column_default FROM information_schema.columns WHERE table_name = 'applications' AND column_name = 'remember_me_max_age_seconds')`).
		Scan(&lifetime, &idle, &rememberMe)
	if err != nil {
		t.Fatal(err)
	}
	p := sessionPolicy{lifetime: time.Duration(lifetime) * time.Second, idle: time.Duration(idle) * time.Second}
	if rememberMe != nil {
		d, _ := time.ParseDuration(*rememberMe + "s")
		p.rememberMe = &d
	}
	return p
}

// TestPolicyBoundsMatchSchema ties auth's bounds of a session policy to the applications
// table's CHECK constraints: each bound is accepted, one second beyond it refused.
func TestPolicyBoundsMatchSchema(t *testing.T) {
	t.Parallel()
	env := apitest.New(t)
	ctx := context.Background()
	for _, column := range []string{"session_max_age_seconds", "session_idle_timeout_seconds", "remember_me_max_age_seconds"} {
		for _, tc := range []struct {
			seconds int64
			ok      bool
		}{
			{int64(auth.MinPolicyDuration / time.Second), true},
			{int64(auth.MinPolicyDuration/time.Second) - 1, false},
			{int64(auth.MaxPolicyDuration / time.Second), true},
			{int64(auth.MaxPolicyDuration/time.Second) + 1, false},
		} {
			_, err := env.Pool.Exec(ctx, "UPDATE applications SET "+column+" = $1 WHERE slug = 'planox2'", tc.seconds)
			if ok := err == nil; ok != tc.ok {
				t.Errorf("%s = %d: accepted %t, want %t (%v)", column, tc.seconds, ok, tc.ok, err)
			}
		}
	}
}

// numberWord spells the small numbers the contract writes out.
func numberWord(n int) string {
	return map[int]string{10: "ten"}[n]
}

// ordinal writes n as the contract counts tries: 5th.
func ordinal(n int) string { return fmt.Sprintf("%dth", n) }
