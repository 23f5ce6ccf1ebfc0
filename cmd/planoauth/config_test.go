package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/google"
	"github.com/plano/planoauth/internal/impl"
	"github.com/plano/planoauth/internal/limits"
	"github.com/plano/planoauth/internal/mail"
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
		if cfg.magicLinkURL != impl.DefaultMagicLinkURL || cfg.outbox != mail.DefaultWorkerConfig ||
			cfg.magicLinkLimits != limits.DefaultMagicLinkLimits {
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
			"PLANOAUTH_GOOGLE_CLIENT_IDS":   " a.apps , ,b.apps ",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.mandrill.From != "team@plano.example" || cfg.mandrill.FromName != "Plano Team" || cfg.mandrill.Timeout != 3*time.Second {
			t.Errorf("mandrill = %+v", cfg.mandrill)
		}
		if cfg.outbox.MaxAttempts != 4 || !slices.Equal(cfg.google.ClientIDs, []string{"a.apps", "b.apps"}) {
			t.Errorf("outbox = %+v, google = %+v", cfg.outbox, cfg.google)
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

func TestLoadConfigServing(t *testing.T) {
	t.Parallel()
	t.Run("Defaults", func(t *testing.T) {
		cfg, err := loadConfig(envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.sessionCacheTTL != 10*time.Second || cfg.memoryLimitMiB != 72 || cfg.loginLimits != limits.DefaultLoginLimits ||
			cfg.addr != "127.0.0.1:8080" || cfg.dataDir != ".data" {
			t.Errorf("config = %+v, want the documented defaults", cfg)
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
