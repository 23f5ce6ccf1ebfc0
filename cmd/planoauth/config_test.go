package main

import (
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/password"
)

func envOf(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestLoadConfigMail(t *testing.T) {
	t.Parallel()
	t.Run("Defaults", func(t *testing.T) {
		cfg, err := loadConfig(envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.mandrill.APIKey != "" || cfg.mandrill.BaseURL != mail.DefaultMandrillBaseURL ||
			cfg.mandrill.From != "no-reply@plano.example" || cfg.mandrill.FromName != "PlanoAuth" {
			t.Errorf("mandrill = %+v, want no key, the default URL and sender", cfg.mandrill)
		}
		// The public URL (and with it where links point, queued emails' included) is set by serve
		// from the address it listens on.
		if cfg.magicLinkURL != "" || cfg.publicURL != "" || cfg.pwned.URL != "" || cfg.outbox != mail.DefaultWorkerConfig ||
			cfg.limits != limits.Defaults {
			t.Errorf("config = %+v, want the defaults", cfg)
		}
		if cfg.google.Issuer != google.DefaultIssuer || cfg.google.JWKSURL != google.DefaultJWKSURL || len(cfg.google.ClientIDs) != 0 {
			t.Errorf("google = %+v, want Google's issuer and keys and no client ids", cfg.google)
		}
	})
	t.Run("OK", func(t *testing.T) {
		cfg, err := loadConfig(envOf(map[string]string{
			"PLANOAUTH_MANDRILL_API_KEY":    "key",
			"PLANOAUTH_MAIL_FROM":           `"Plano Team" <team@plano.example>`,
			"PLANOAUTH_MANDRILL_TIMEOUT":    "3s",
			"PLANOAUTH_OUTBOX_MAX_ATTEMPTS": "4",
			"PLANOAUTH_GOOGLE_CLIENT_IDS":   " planoorder = a.apps , ,planox2=b.apps,planoorder=c.apps ",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.mandrill.From != "team@plano.example" || cfg.mandrill.FromName != "Plano Team" || cfg.mandrill.Timeout != 3*time.Second {
			t.Errorf("mandrill = %+v", cfg.mandrill)
		}
		if cfg.outbox.MaxAttempts != 4 {
			t.Errorf("outbox = %+v", cfg.outbox)
		}
		if want := map[string][]string{"planoorder": {"a.apps", "c.apps"}, "planox2": {"b.apps"}}; !maps.EqualFunc(cfg.google.ClientIDs, want, slices.Equal) {
			t.Errorf("google client ids = %v, want %v", cfg.google.ClientIDs, want)
		}
	})
	for name, vars := range map[string]map[string]string{
		"ErrSender":      {"PLANOAUTH_MAIL_FROM": "not an address"},
		"ErrMaxAttempts": {"PLANOAUTH_OUTBOX_MAX_ATTEMPTS": "0"},
		"ErrTimeout":     {"PLANOAUTH_MANDRILL_TIMEOUT": "soon"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(envOf(vars))
			for name := range vars {
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("loadConfig = %v, want an error naming %s", err, name)
				}
			}
		})
	}
}

// TestLoadConfigGoogleClientIDs: each application's own client ids, or a refusal to start that
// names the variable and says what is wrong.
func TestLoadConfigGoogleClientIDs(t *testing.T) {
	t.Parallel()
	load := func(v string) (map[string][]string, error) {
		cfg, err := loadConfig(envOf(map[string]string{"PLANOAUTH_GOOGLE_CLIENT_IDS": v}))
		return cfg.google.ClientIDs, err
	}
	for v, want := range map[string]map[string][]string{
		"planoorder=123.apps.googleusercontent.com,planox2=456.apps.googleusercontent.com": {
			"planoorder": {"123.apps.googleusercontent.com"}, "planox2": {"456.apps.googleusercontent.com"}},
		// Several ids for one application, spaces and blanks around them, one listed twice.
		" planoorder = web.apps ,\t,planoorder=android.apps, planoorder=web.apps,": {"planoorder": {"web.apps", "android.apps"}},
		"planoauth=p.apps": {"planoauth": {"p.apps"}},
		" , ":              {},
	} {
		got, err := load(v)
		if err != nil || !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%q: client ids %v, %v; want %v", v, got, err, want)
		}
	}
	for v, want := range map[string]string{
		// The former form, one list for every application: refused, not applied to all.
		"123.apps.googleusercontent.com": `"123.apps.googleusercontent.com" names no application: write SLUG=CLIENT_ID pairs`,
		"planoorder=a.apps,b.apps":       `"b.apps" names no application`,
		"planordr=a.apps":                `unknown application "planordr"`,
		"PlanoOrder=a.apps":              `unknown application "PlanoOrder"`,
		"=a.apps":                        `unknown application ""`,
		"planoorder=":                    `"" is no OAuth client id`,
		"planoorder=a b":                 `"a b" is no OAuth client id`,
		"planoorder=a=b":                 `"a=b" is no OAuth client id`,
		"planoorder=shared.apps,planox2=shared.apps":      "the client id shared.apps is given to both planoorder and planox2",
		"planox2=x.apps,planoorder=o.apps,planox2=o.apps": "the client id o.apps is given to both planoorder and planox2",
	} {
		got, err := load(v)
		if err == nil || !strings.Contains(err.Error(), "PLANOAUTH_GOOGLE_CLIENT_IDS") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: client ids %v, error %v; want an error naming PLANOAUTH_GOOGLE_CLIENT_IDS saying %s", v, got, err, want)
		}
	}
	// serve refuses to start with the former form (before it touches a database: the URL given
	// would fail otherwise, with another error).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, []string{"serve"}, envOf(map[string]string{"PLANOAUTH_GOOGLE_CLIENT_IDS": "123.apps.googleusercontent.com",
		"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "PLANOAUTH_ADDR": "127.0.0.1:0"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PLANOAUTH_GOOGLE_CLIENT_IDS") || !strings.Contains(err.Error(), "SLUG=CLIENT_ID") {
		t.Errorf("serve with a client id without its application: %v, want a refusal saying the SLUG=CLIENT_ID form", err)
	}
}

func TestLoadConfigServing(t *testing.T) {
	t.Parallel()
	t.Run("Defaults", func(t *testing.T) {
		cfg, err := loadConfig(envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.sessionCacheTTL != 10*time.Second || cfg.memoryLimitMiB != 0 || cfg.gcPercent != 400 || cfg.limits != limits.Defaults ||
			cfg.addr != "127.0.0.1:8080" || cfg.dataDir != ".data" {
			t.Errorf("config = %+v, want the documented defaults", cfg)
		}
	})
	t.Run("PublicURL", func(t *testing.T) {
		// Without PLANOAUTH_PUBLIC_URL, serve derives it from the address it listens on.
		for addr, want := range map[string]string{"127.0.0.1:8080": "http://127.0.0.1:8080", ":9000": "http://127.0.0.1:9000",
			"0.0.0.0:80": "http://127.0.0.1:80", "[::]:8080": "http://127.0.0.1:8080", "auth.example:8443": "http://auth.example:8443",
			"127.0.0.1:41234": "http://127.0.0.1:41234", "[::1]:9000": "http://[::1]:9000"} {
			if got := defaultPublicURL(addr); got != want {
				t.Errorf("listening on %s: public URL %q, want %q", addr, got, want)
			}
		}
	})
	t.Run("Limits", func(t *testing.T) {
		cfg, err := loadConfig(envOf(map[string]string{
			"PLANOAUTH_LOGIN_LIMIT_ACCOUNT": "3", "PLANOAUTH_LOGIN_LIMIT_KNOWN": "4", "PLANOAUTH_MAGIC_LINK_LIMIT_ADDRESS": "7",
			"PLANOAUTH_LIAISON_LIMIT_CALLER": "2", "PLANOAUTH_INVITATION_LIMIT_WINDOW": "2h", "PLANOAUTH_DEVICE_TOKEN_TTL": "24h",
			"PLANOAUTH_HASH_QUEUE_BUDGET": "100ms", "PLANOAUTH_RETENTION_SESSIONS": "0s", "PLANOAUTH_RETENTION_INTERVAL": "5m",
			"PLANOAUTH_METRICS_ADDR": "127.0.0.1:9100", "PLANOAUTH_INVITATION_LIMIT_RECIPIENT": "2",
			"PLANOAUTH_INVITATION_LIMIT_RECIPIENT_WINDOW": "48h", "PLANOAUTH_LOGIN_SUCCESS_LIMIT_ACCOUNT": "5",
			"PLANOAUTH_LOGIN_SUCCESS_LIMIT_WINDOW": "1h", "PLANOAUTH_LOGIN_SUCCESS_LIMIT_ALL": "20",
		}))
		if err != nil {
			t.Fatal(err)
		}
		l := cfg.limits
		if l.InvitationRecipients != (limits.RecipientQuota{PerRecipient: 2, Window: 48 * time.Hour}) {
			t.Errorf("invitations per recipient = %+v, want 2 per 48h", l.InvitationRecipients)
		}
		if l.SignedIn != (limits.SuccessQuota{PerAccount: 5, PerAll: 20, Window: time.Hour}) {
			t.Errorf("successful sign-ins per account = %+v, want 5 per caller and 20 in all per 1h", l.SignedIn)
		}
		if l.SignIn.PerAccount != 3 || l.SignIn.PerKnown != 4 || l.Links.PerAddress != 7 || l.Liaisons.PerCaller != 2 ||
			l.Invitations.Window != 2*time.Hour || l.DeviceTokenTTL != 24*time.Hour || cfg.hasher.QueueBudget != 100*time.Millisecond ||
			cfg.retention.Sessions != 0 || cfg.retention.Interval != 5*time.Minute || cfg.metricsAddr != "127.0.0.1:9100" {
			t.Errorf("config = %+v, want the values set", cfg)
		}
		for name, bad := range map[string]string{"PLANOAUTH_LOGIN_LIMIT_ACCOUNT": "0", "PLANOAUTH_RETENTION_OUTBOX": "-1s",
			"PLANOAUTH_HASH_QUEUE_BUDGET": "0s", "PLANOAUTH_RETENTION_INTERVAL": "0s"} {
			if _, err := loadConfig(envOf(map[string]string{name: bad})); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: err = %v, want one naming it", name, bad, err)
			}
		}
	})
	t.Run("CacheOff", func(t *testing.T) {
		cfg, err := loadConfig(envOf(map[string]string{"PLANOAUTH_SESSION_CACHE_TTL": "0s"}))
		if err != nil || cfg.sessionCacheTTL != 0 {
			t.Errorf("PLANOAUTH_SESSION_CACHE_TTL=0s: %v %v, want the cache off", cfg.sessionCacheTTL, err)
		}
	})
	t.Run("TrustedProxies", func(t *testing.T) {
		cfg, err := loadConfig(envOf(map[string]string{"PLANOAUTH_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1,::1"}))
		if err != nil || len(cfg.trustedProxies) != 3 || cfg.trustedProxies[1].String() != "192.0.2.1/32" {
			t.Errorf("trusted proxies = %v (%v), want three prefixes", cfg.trustedProxies, err)
		}
		if _, err := loadConfig(envOf(map[string]string{"PLANOAUTH_TRUSTED_PROXIES": "somewhere"})); err == nil {
			t.Errorf("PLANOAUTH_TRUSTED_PROXIES=somewhere accepted")
		}
	})
	for _, bad := range []string{"-1s", "2m", "soon"} {
		t.Run("ErrCacheTTL"+bad, func(t *testing.T) {
			if _, err := loadConfig(envOf(map[string]string{"PLANOAUTH_SESSION_CACHE_TTL": bad})); err == nil {
				t.Errorf("PLANOAUTH_SESSION_CACHE_TTL=%s accepted", bad)
			}
		})
	}
}

func TestLoadConfigPublicURL(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		cfg, err := loadConfig(envOf(map[string]string{
			"PLANOAUTH_PUBLIC_URL": "https://auth.plano.example/", "PLANOAUTH_HIBP_URL": "https://api.pwnedpasswords.com",
			"PLANOAUTH_HIBP_TIMEOUT": "500ms",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.publicURL != "https://auth.plano.example" || cfg.pwned.URL != "https://api.pwnedpasswords.com" || cfg.pwned.Timeout != 500*time.Millisecond {
			t.Errorf("publicURL = %q, pwned = %+v", cfg.publicURL, cfg.pwned)
		}
	})
	for _, bad := range []string{"auth.plano.example", "ftp://auth.plano.example", "https://auth.plano.example/login", "https://auth.plano.example?x=1"} {
		if _, err := loadConfig(envOf(map[string]string{"PLANOAUTH_PUBLIC_URL": bad})); err == nil || !strings.Contains(err.Error(), "PLANOAUTH_PUBLIC_URL") {
			t.Errorf("PLANOAUTH_PUBLIC_URL=%q: err = %v, want it refused", bad, err)
		}
	}
}

// The soft memory limit must hold every hash the hasher runs at once beside the live heap: a
// fixed 80 MiB was below what 4 CPUs' hashes hold (76 MiB) with the live heap (about 12 MiB),
// and the collector then runs without end.
func TestMemoryLimitHoldsTheHashesInFlight(t *testing.T) {
	t.Parallel()
	const liveHeapMiB = 12
	for _, slots := range []int{1, 2, 4, 8, 32} {
		cfg, err := loadConfig(envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		cfg.hasher.Slots = slots
		if got, least := cfg.memoryLimit(), slots*password.HashMiB+liveHeapMiB; got < least {
			t.Errorf("%d hash slots: memory limit %d MiB, want at least %d", slots, got, least)
		}
	}
	cfg, err := loadConfig(envOf(map[string]string{"PLANOAUTH_MEMORY_LIMIT_MIB": "300"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.hasher.Slots = 2; cfg.memoryLimit() != 300 {
		t.Errorf("PLANOAUTH_MEMORY_LIMIT_MIB=300: memory limit %d MiB, want 300", cfg.memoryLimit())
	}
}
