package main

import (
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/plano/planoauth/internal/gen"
	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
	"github.com/plano/planoauth/internal/password"
	"github.com/plano/planoauth/internal/retention"
	"github.com/plano/planoauth/internal/seal"
	"github.com/plano/planoauth/internal/telemetry"
	"github.com/plano/planoauth/internal/webhooks"
)

// config is the environment, read once.
type config struct {
	databaseURL     string        // DATABASE_URL; empty: a private cluster under dataDir
	dataDir         string        // PLANOAUTH_DATA_DIR
	addr            string        // PLANOAUTH_ADDR
	logLevel        slog.Level    // PLANOAUTH_LOG_LEVEL
	shutdownTimeout time.Duration // PLANOAUTH_SHUTDOWN_TIMEOUT
	// publicURL is where the service is reached, the one place its public origin is defined
	// (the default redirect origin; every emailed link opens a page under it):
	// PLANOAUTH_PUBLIC_URL, else empty, and serve takes http://<the address it listens on>
	// (defaultPublicURL), so that links work on any port, :0 included.
	publicURL string
	pwned     password.PwnedConfig // PLANOAUTH_HIBP_URL, PLANOAUTH_HIBP_TIMEOUT
	// metricsAddr is PLANOAUTH_METRICS_ADDR: empty serves /metrics on addr, else only there.
	metricsAddr    string
	limits         limits.Config
	hasher         password.Config
	retention      retention.Config
	memoryLimitMiB int    // PLANOAUTH_MEMORY_LIMIT_MIB (0: memoryLimit's default); GOMEMLIMIT, when set, wins
	gcPercent      int    // PLANOAUTH_GC_PERCENT; GOGC, when set, wins
	magicLinkURL   string // PLANOAUTH_MAGIC_LINK_URL; empty: the service's own /magic page
	// mandrill.APIKey empty: the local mailer, which records emails in the database.
	mandrill mail.MandrillConfig
	outbox   mail.WorkerConfig
	google   google.Config
	// sessionCacheTTL is PLANOAUTH_SESSION_CACHE_TTL; 0 turns the token cache off.
	sessionCacheTTL time.Duration
	// trustedProxies is PLANOAUTH_TRUSTED_PROXIES: peers whose X-Forwarded-For is believed.
	trustedProxies []netip.Prefix
	// webhookKeys is PLANOAUTH_WEBHOOK_KEY, which seals webhooks' signing secrets; nil: unset.
	webhookKeys [][]byte
	webhooks    webhooks.WorkerConfig
	// tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set (see package telemetry).
	tracing telemetry.Config
	// mfaKeys is PLANOAUTH_MFA_KEY (nil when unset: see mfaKeys); webauthn is
	// PLANOAUTH_WEBAUTHN_RP_ID and PLANOAUTH_WEBAUTHN_ORIGINS (empty: from the public URL).
	mfaKeys  [][]byte
	webauthn impl.WebAuthnConfig
}

// heapBaseMiB is the soft memory limit's share beside the hashes in flight: the live heap
// (about 12 MiB, half of it zxcvbn's dictionaries) and the garbage the reads leave between
// collections. With one hash per CPU, 2 CPUs give 80 MiB, the fixed default before.
const heapBaseMiB = 42

// memoryLimit is the soft memory limit in MiB: PLANOAUTH_MEMORY_LIMIT_MIB, else room for every
// hash the hasher may run at once beside heapBaseMiB. A fixed limit below what the hashes in
// flight hold (4 CPUs: 76 MiB of hashes) makes the collector run without end.
func (c config) memoryLimit() int {
	if c.memoryLimitMiB > 0 {
		return c.memoryLimitMiB
	}
	return heapBaseMiB + password.SlotsOf(c.hasher)*password.HashMiB
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		databaseURL:     getenv("DATABASE_URL"),
		dataDir:         orDefault(getenv("PLANOAUTH_DATA_DIR"), ".data"),
		addr:            orDefault(getenv("PLANOAUTH_ADDR"), "127.0.0.1:8080"),
		shutdownTimeout: 15 * time.Second,
		metricsAddr:     getenv("PLANOAUTH_METRICS_ADDR"),
		limits:          limits.Defaults,
		hasher:          password.Config{QueueBudget: password.DefaultQueueBudget},
		retention:       retention.Defaults,
		gcPercent:       400,
		sessionCacheTTL: 10 * time.Second,
		magicLinkURL:    strings.TrimSpace(getenv("PLANOAUTH_MAGIC_LINK_URL")),
		pwned:           password.PwnedConfig{URL: strings.TrimSpace(getenv("PLANOAUTH_HIBP_URL")), Timeout: password.DefaultPwnedTimeout},
		mandrill: mail.MandrillConfig{
			APIKey:  getenv("PLANOAUTH_MANDRILL_API_KEY"),
			BaseURL: orDefault(getenv("PLANOAUTH_MANDRILL_BASE_URL"), mail.DefaultMandrillBaseURL),
			Timeout: mail.DefaultMandrillTimeout,
		},
		outbox:   mail.DefaultWorkerConfig,
		webhooks: webhooks.DefaultWorkerConfig,
		google: google.Config{
			Issuer:  orDefault(getenv("PLANOAUTH_GOOGLE_ISSUER"), google.DefaultIssuer),
			JWKSURL: orDefault(getenv("PLANOAUTH_GOOGLE_JWKS_URL"), google.DefaultJWKSURL),
		},
		webauthn: impl.WebAuthnConfig{RPID: strings.TrimSpace(getenv("PLANOAUTH_WEBAUTHN_RP_ID")),
			Origins: splitList(getenv("PLANOAUTH_WEBAUTHN_ORIGINS"))},
	}
	if err := c.logLevel.UnmarshalText([]byte(orDefault(getenv("PLANOAUTH_LOG_LEVEL"), "info"))); err != nil {
		return c, fmt.Errorf("PLANOAUTH_LOG_LEVEL: %w", err)
	}
	for _, setting := range []struct {
		name string
		set  func(string) error
	}{
		{"PLANOAUTH_SHUTDOWN_TIMEOUT", durationSetting(&c.shutdownTimeout)},
		{"PLANOAUTH_LOGIN_LIMIT_ACCOUNT", countSetting(&c.limits.SignIn.PerAccount)},
		{"PLANOAUTH_LOGIN_LIMIT_KNOWN", countSetting(&c.limits.SignIn.PerKnown)},
		{"PLANOAUTH_LOGIN_LIMIT_ADDRESS", countSetting(&c.limits.SignIn.PerAddress)},
		{"PLANOAUTH_LOGIN_LIMIT_WINDOW", durationSetting(&c.limits.SignIn.Window)},
		{"PLANOAUTH_LOGIN_SUCCESS_LIMIT_ACCOUNT", countSetting(&c.limits.SignedIn.PerAccount)},
		{"PLANOAUTH_LOGIN_SUCCESS_LIMIT_ALL", countSetting(&c.limits.SignedIn.PerAll)},
		{"PLANOAUTH_LOGIN_SUCCESS_LIMIT_WINDOW", durationSetting(&c.limits.SignedIn.Window)},
		{"PLANOAUTH_MAGIC_LINK_LIMIT_ACCOUNT", countSetting(&c.limits.Links.PerAccount)},
		{"PLANOAUTH_MAGIC_LINK_LIMIT_KNOWN", countSetting(&c.limits.Links.PerKnown)},
		{"PLANOAUTH_MAGIC_LINK_LIMIT_ADDRESS", countSetting(&c.limits.Links.PerAddress)},
		{"PLANOAUTH_MAGIC_LINK_LIMIT_WINDOW", durationSetting(&c.limits.Links.Window)},
		{"PLANOAUTH_RESET_LIMIT_ACCOUNT", countSetting(&c.limits.Resets.PerAccount)},
		{"PLANOAUTH_RESET_LIMIT_KNOWN", countSetting(&c.limits.Resets.PerKnown)},
		{"PLANOAUTH_RESET_LIMIT_ADDRESS", countSetting(&c.limits.Resets.PerAddress)},
		{"PLANOAUTH_RESET_LIMIT_WINDOW", durationSetting(&c.limits.Resets.Window)},
		{"PLANOAUTH_REGISTER_LIMIT_ADDRESS", countSetting(&c.limits.Registrations.PerAddress)},
		{"PLANOAUTH_REGISTER_LIMIT_WINDOW", durationSetting(&c.limits.Registrations.Window)},
		{"PLANOAUTH_REGISTER_LIMIT_RECIPIENT", countSetting(&c.limits.WelcomeRecipients.PerRecipient)},
		{"PLANOAUTH_REGISTER_LIMIT_RECIPIENT_WINDOW", durationSetting(&c.limits.WelcomeRecipients.Window)},
		{"PLANOAUTH_LIAISON_LIMIT_CALLER", countSetting(&c.limits.Liaisons.PerCaller)},
		{"PLANOAUTH_LIAISON_LIMIT_ADDRESS", countSetting(&c.limits.Liaisons.PerAddress)},
		{"PLANOAUTH_LIAISON_LIMIT_WINDOW", durationSetting(&c.limits.Liaisons.Window)},
		{"PLANOAUTH_INVITATION_LIMIT_CALLER", countSetting(&c.limits.Invitations.PerCaller)},
		{"PLANOAUTH_INVITATION_LIMIT_ADDRESS", countSetting(&c.limits.Invitations.PerAddress)},
		{"PLANOAUTH_INVITATION_LIMIT_WINDOW", durationSetting(&c.limits.Invitations.Window)},
		{"PLANOAUTH_INVITATION_LIMIT_RECIPIENT", countSetting(&c.limits.InvitationRecipients.PerRecipient)},
		{"PLANOAUTH_INVITATION_LIMIT_RECIPIENT_WINDOW", durationSetting(&c.limits.InvitationRecipients.Window)},
		{"PLANOAUTH_MFA_LIMIT_ACCOUNT", countSetting(&c.limits.SecondFactors.PerAccount)},
		{"PLANOAUTH_MFA_LIMIT_KNOWN", countSetting(&c.limits.SecondFactors.PerKnown)},
		{"PLANOAUTH_MFA_LIMIT_ADDRESS", countSetting(&c.limits.SecondFactors.PerAddress)},
		{"PLANOAUTH_MFA_LIMIT_WINDOW", durationSetting(&c.limits.SecondFactors.Window)},
		{"PLANOAUTH_MFA_KEY", keysSetting(&c.mfaKeys)},
		{"PLANOAUTH_RETENTION_MFA_CEREMONIES", retentionSetting(&c.retention.MFACeremonies)},
		{"PLANOAUTH_DEVICE_TOKEN_TTL", durationSetting(&c.limits.DeviceTokenTTL)},
		{"PLANOAUTH_KNOWN_ADDRESS_TTL", durationSetting(&c.limits.KnownAddressTTL)},
		{"PLANOAUTH_HASH_QUEUE_BUDGET", durationSetting(&c.hasher.QueueBudget)},
		{"PLANOAUTH_RETENTION_INTERVAL", durationSetting(&c.retention.Interval)},
		{"PLANOAUTH_RETENTION_LIMIT_COUNTERS", retentionSetting(&c.retention.LimitCounters)},
		{"PLANOAUTH_RETENTION_SESSIONS", retentionSetting(&c.retention.Sessions)},
		{"PLANOAUTH_RETENTION_MAGIC_LINKS", retentionSetting(&c.retention.MagicLinks)},
		{"PLANOAUTH_RETENTION_DEVICE_TOKENS", retentionSetting(&c.retention.DeviceTokens)},
		{"PLANOAUTH_RETENTION_KNOWN_ADDRESSES", retentionSetting(&c.retention.KnownAddresses)},
		{"PLANOAUTH_RETENTION_SENT_EMAILS", retentionSetting(&c.retention.SentEmails)},
		{"PLANOAUTH_RETENTION_NOTIFICATIONS", retentionSetting(&c.retention.Notifications)},
		{"PLANOAUTH_RETENTION_OUTBOX", retentionSetting(&c.retention.Outbox)},
		{"PLANOAUTH_RETENTION_AUDIT_EVENTS", retentionSetting(&c.retention.AuditEvents)},
		{"PLANOAUTH_RETENTION_WEBHOOK_DELIVERIES", retentionSetting(&c.retention.WebhookDeliveries)},
		{"PLANOAUTH_MEMORY_LIMIT_MIB", countSetting(&c.memoryLimitMiB)},
		{"PLANOAUTH_GC_PERCENT", countSetting(&c.gcPercent)},
		{"PLANOAUTH_SESSION_CACHE_TTL", cacheTTLSetting(&c.sessionCacheTTL)},
		{"PLANOAUTH_TRUSTED_PROXIES", prefixesSetting(&c.trustedProxies)},
		{"PLANOAUTH_MAIL_FROM", senderSetting(&c.mandrill)},
		{"PLANOAUTH_MANDRILL_TIMEOUT", durationSetting(&c.mandrill.Timeout)},
		{"PLANOAUTH_OUTBOX_MAX_ATTEMPTS", countSetting(&c.outbox.MaxAttempts)},
		{"PLANOAUTH_OUTBOX_POLL_INTERVAL", durationSetting(&c.outbox.PollInterval)},
		{"PLANOAUTH_OUTBOX_BACKOFF_BASE", durationSetting(&c.outbox.BackoffBase)},
		{"PLANOAUTH_OUTBOX_BACKOFF_MAX", durationSetting(&c.outbox.BackoffMax)},
		{"PLANOAUTH_PUBLIC_URL", publicURLSetting(&c.publicURL)},
		{"PLANOAUTH_GOOGLE_CLIENT_IDS", googleClientIDsSetting(&c.google.ClientIDs)},
		{"PLANOAUTH_HIBP_TIMEOUT", durationSetting(&c.pwned.Timeout)},
		{"PLANOAUTH_WEBHOOK_KEY", keysSetting(&c.webhookKeys)},
		{"PLANOAUTH_WEBHOOK_MAX_ATTEMPTS", countSetting(&c.webhooks.MaxAttempts)},
		{"PLANOAUTH_WEBHOOK_POLL_INTERVAL", durationSetting(&c.webhooks.PollInterval)},
		{"PLANOAUTH_WEBHOOK_BACKOFF_BASE", durationSetting(&c.webhooks.BackoffBase)},
		{"PLANOAUTH_WEBHOOK_BACKOFF_MAX", durationSetting(&c.webhooks.BackoffMax)},
	} {
		if v := getenv(setting.name); v != "" {
			if err := setting.set(v); err != nil {
				return c, fmt.Errorf("%s: %w", setting.name, err)
			}
		}
	}
	tracing, err := telemetry.FromEnv(getenv)
	if err != nil {
		return c, err
	}
	c.tracing = tracing
	if c.mandrill.From == "" {
		if err := senderSetting(&c.mandrill)(defaultMailFrom); err != nil {
			return c, fmt.Errorf("default sender: %w", err)
		}
	}
	return c, nil
}

// defaultMailFrom is the sender of PlanoAuth's emails unless PLANOAUTH_MAIL_FROM says otherwise.
const defaultMailFrom = "PlanoAuth <no-reply@plano.example>"

// senderSetting reads an address such as "PlanoAuth <no-reply@plano.example>" into the sender
// address and name.
func senderSetting(m *mail.MandrillConfig) func(string) error {
	return func(v string) error {
		addr, err := netmail.ParseAddress(v)
		if err != nil {
			return err
		}
		m.From, m.FromName = addr.Address, addr.Name
		return nil
	}
}

// publicURLSetting reads the service's public URL: http(s), a host, and no path, query or
// fragment (the pages' paths are appended to it).
func publicURLSetting(dst *string) func(string) error {
	return func(v string) error {
		u, err := url.Parse(strings.TrimRight(strings.TrimSpace(v), "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("%q is not a public URL such as https://auth.example.com", v)
		}
		*dst = u.String()
		return nil
	}
}

// defaultPublicURL is the service's public URL when none is configured: http:// and the listen
// address, with 127.0.0.1 for an unspecified host (":8080", "0.0.0.0:8080"), which no browser
// could be sent to.
func defaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// googleClientIDsSetting reads each application's Google OAuth client ids:
// "planoorder=123.apps.googleusercontent.com,planox2=456.apps.googleusercontent.com", a slug
// repeated for each further id of its application. An application accepts only ID tokens issued
// to its own ids, so an id without a slug (the former form, one list for every application), a
// slug the contract does not list (a typo would leave Google sign-in silently off) and an id
// given to two applications (each would accept the other's tokens) are refused.
func googleClientIDsSetting(dst *map[string][]string) func(string) error {
	return func(v string) error {
		ids := map[string][]string{}
		owner := map[string]string{} // client id -> the application it is given to
		for _, item := range splitList(v) {
			slug, id, ok := strings.Cut(item, "=")
			slug, id = strings.TrimSpace(slug), strings.TrimSpace(id)
			switch {
			case !ok:
				return fmt.Errorf("%q names no application: write SLUG=CLIENT_ID pairs, such as "+
					"planoorder=123.apps.googleusercontent.com,planox2=456.apps.googleusercontent.com "+
					"(each application accepts only ID tokens issued to its own client ids; repeat a slug for each further id)", item)
			case !gen.ApplicationSlug(slug).Valid():
				return fmt.Errorf("%q: unknown application %q (`planoauth applications list` shows them)", item, slug)
			case id == "" || strings.ContainsAny(id, "= \t"):
				return fmt.Errorf("%q: %q is no OAuth client id", item, id)
			case owner[id] != "" && owner[id] != slug:
				return fmt.Errorf("the client id %s is given to both %s and %s: each would accept ID tokens issued to the other", id, owner[id], slug)
			case owner[id] == slug:
				continue // listed twice for one application
			}
			owner[id] = slug
			ids[slug] = append(ids[slug], id)
		}
		*dst = ids
		return nil
	}
}

// splitList reads a comma-separated list, ignoring blanks.
func splitList(v string) []string {
	var items []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func durationSetting(d *time.Duration) func(string) error {
	return func(v string) error {
		parsed, err := time.ParseDuration(v)
		if err == nil && parsed <= 0 {
			err = fmt.Errorf("must be positive, got %s", v)
		}
		*d = parsed
		return err
	}
}

// retentionSetting reads how long rows are kept: zero (delete as soon as they are of no use) or more.
func retentionSetting(d *time.Duration) func(string) error {
	return func(v string) error {
		parsed, err := time.ParseDuration(v)
		if err == nil && parsed < 0 {
			err = fmt.Errorf("must not be negative, got %s", v)
		}
		*d = parsed
		return err
	}
}

func cacheTTLSetting(d *time.Duration) func(string) error {
	return func(v string) error {
		parsed, err := time.ParseDuration(v)
		if err == nil && (parsed < 0 || parsed > time.Minute) {
			err = fmt.Errorf("must be between 0 (off) and 1m, got %s", v)
		}
		*d = parsed
		return err
	}
}

// prefixesSetting reads comma-separated addresses or CIDR prefixes.
func prefixesSetting(prefixes *[]netip.Prefix) func(string) error {
	return func(v string) error {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			prefix, err := netip.ParsePrefix(item)
			if err != nil {
				addr, addrErr := netip.ParseAddr(item)
				if addrErr != nil {
					return fmt.Errorf("%q is neither an address nor a CIDR prefix", item)
				}
				prefix = netip.PrefixFrom(addr, addr.BitLen())
			}
			*prefixes = append(*prefixes, prefix.Masked())
		}
		return nil
	}
}

// keysSetting reads a setting of sealing keys (PLANOAUTH_MFA_KEY, PLANOAUTH_WEBHOOK_KEY:
// seal.ParseKeys).
func keysSetting(keys *[][]byte) func(string) error {
	return func(v string) error {
		parsed, err := seal.ParseKeys(v)
		*keys = parsed
		return err
	}
}

func countSetting(n *int) func(string) error {
	return func(v string) error {
		parsed, err := strconv.Atoi(v)
		if err == nil && parsed < 1 {
			err = fmt.Errorf("must be at least 1, got %d", parsed)
		}
		*n = parsed
		return err
	}
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}
