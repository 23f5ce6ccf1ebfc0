package main

import (
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
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
	loginLimits     limits.LoginLimits
	registerLimits  limits.RegistrationLimits
	memoryLimitMiB  int // PLANOAUTH_MEMORY_LIMIT_MIB; GOMEMLIMIT, when set, wins
	magicLinkLimits limits.MagicLinkLimits
	magicLinkURL    string // PLANOAUTH_MAGIC_LINK_URL
	// mandrill.APIKey empty: the local mailer, which records emails in the database.
	mandrill mail.MandrillConfig
	outbox   mail.WorkerConfig
	google   google.Config
	// sessionCacheTTL is PLANOAUTH_SESSION_CACHE_TTL; 0 turns the token cache off.
	sessionCacheTTL time.Duration
	// trustedProxies is PLANOAUTH_TRUSTED_PROXIES: peers whose X-Forwarded-For is believed.
	trustedProxies []netip.Prefix
	// webhookKey is PLANOAUTH_WEBHOOK_KEY, which seals webhooks' signing secrets; nil: unset.
	webhookKey []byte
	webhooks   webhooks.WorkerConfig
	// tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set (see package telemetry).
	tracing telemetry.Config
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		databaseURL:     getenv("DATABASE_URL"),
		dataDir:         orDefault(getenv("PLANOAUTH_DATA_DIR"), ".data"),
		addr:            orDefault(getenv("PLANOAUTH_ADDR"), "127.0.0.1:8080"),
		shutdownTimeout: 15 * time.Second,
		loginLimits:     limits.DefaultLoginLimits,
		registerLimits:  limits.DefaultRegistrationLimits,
		memoryLimitMiB:  72,
		sessionCacheTTL: 10 * time.Second,
		magicLinkLimits: limits.DefaultMagicLinkLimits,
		magicLinkURL:    orDefault(getenv("PLANOAUTH_MAGIC_LINK_URL"), impl.DefaultMagicLinkURL),
		mandrill: mail.MandrillConfig{
			APIKey:  getenv("PLANOAUTH_MANDRILL_API_KEY"),
			BaseURL: orDefault(getenv("PLANOAUTH_MANDRILL_BASE_URL"), mail.DefaultMandrillBaseURL),
			Timeout: mail.DefaultMandrillTimeout,
		},
		outbox:   mail.DefaultWorkerConfig,
		webhooks: webhooks.DefaultWorkerConfig,
		google: google.Config{
			Issuer:    orDefault(getenv("PLANOAUTH_GOOGLE_ISSUER"), google.DefaultIssuer),
			JWKSURL:   orDefault(getenv("PLANOAUTH_GOOGLE_JWKS_URL"), google.DefaultJWKSURL),
			ClientIDs: splitList(getenv("PLANOAUTH_GOOGLE_CLIENT_IDS")),
		},
	}
	if err := c.logLevel.UnmarshalText([]byte(orDefault(getenv("PLANOAUTH_LOG_LEVEL"), "info"))); err != nil {
		return c, fmt.Errorf("PLANOAUTH_LOG_LEVEL: %w", err)
	}
	for _, setting := range []struct {
		name string
		set  func(string) error
	}{
		{"PLANOAUTH_SHUTDOWN_TIMEOUT", durationSetting(&c.shutdownTimeout)},
		{"PLANOAUTH_LOGIN_LIMIT_EMAIL", countSetting(&c.loginLimits.PerEmail)},
		{"PLANOAUTH_LOGIN_LIMIT_ADDRESS", countSetting(&c.loginLimits.PerAddress)},
		{"PLANOAUTH_LOGIN_LIMIT_WINDOW", durationSetting(&c.loginLimits.Window)},
		{"PLANOAUTH_REGISTER_LIMIT_ADDRESS", countSetting(&c.registerLimits.PerAddress)},
		{"PLANOAUTH_REGISTER_LIMIT_WINDOW", durationSetting(&c.registerLimits.Window)},
		{"PLANOAUTH_MEMORY_LIMIT_MIB", countSetting(&c.memoryLimitMiB)},
		{"PLANOAUTH_SESSION_CACHE_TTL", cacheTTLSetting(&c.sessionCacheTTL)},
		{"PLANOAUTH_TRUSTED_PROXIES", prefixesSetting(&c.trustedProxies)},
		{"PLANOAUTH_MAGIC_LINK_LIMIT_EMAIL", countSetting(&c.magicLinkLimits.PerEmail)},
		{"PLANOAUTH_MAGIC_LINK_LIMIT_WINDOW", durationSetting(&c.magicLinkLimits.Window)},
		{"PLANOAUTH_MAIL_FROM", senderSetting(&c.mandrill)},
		{"PLANOAUTH_MANDRILL_TIMEOUT", durationSetting(&c.mandrill.Timeout)},
		{"PLANOAUTH_OUTBOX_MAX_ATTEMPTS", countSetting(&c.outbox.MaxAttempts)},
		{"PLANOAUTH_OUTBOX_POLL_INTERVAL", durationSetting(&c.outbox.PollInterval)},
		{"PLANOAUTH_OUTBOX_BACKOFF_BASE", durationSetting(&c.outbox.BackoffBase)},
		{"PLANOAUTH_OUTBOX_BACKOFF_MAX", durationSetting(&c.outbox.BackoffMax)},
		{"PLANOAUTH_WEBHOOK_KEY", webhookKeySetting(&c.webhookKey)},
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

func webhookKeySetting(key *[]byte) func(string) error {
	return func(v string) error {
		parsed, err := webhooks.ParseKey(v)
		*key = parsed
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
