package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/plano/planoauth/internal/auth"
)

// config is the environment, read once.
type config struct {
	databaseURL     string        // DATABASE_URL; empty: a private cluster under dataDir
	dataDir         string        // PLANOAUTH_DATA_DIR
	addr            string        // PLANOAUTH_ADDR
	logLevel        slog.Level    // PLANOAUTH_LOG_LEVEL
	shutdownTimeout time.Duration // PLANOAUTH_SHUTDOWN_TIMEOUT
	loginLimits     auth.LoginLimits
	memoryLimitMiB  int // PLANOAUTH_MEMORY_LIMIT_MIB; GOMEMLIMIT, when set, wins
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		databaseURL:     getenv("DATABASE_URL"),
		dataDir:         orDefault(getenv("PLANOAUTH_DATA_DIR"), ".data"),
		addr:            orDefault(getenv("PLANOAUTH_ADDR"), "127.0.0.1:8080"),
		shutdownTimeout: 15 * time.Second,
		loginLimits:     auth.DefaultLoginLimits,
		memoryLimitMiB:  80,
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
		{"PLANOAUTH_MEMORY_LIMIT_MIB", countSetting(&c.memoryLimitMiB)},
	} {
		if v := getenv(setting.name); v != "" {
			if err := setting.set(v); err != nil {
				return c, fmt.Errorf("%s: %w", setting.name, err)
			}
		}
	}
	return c, nil
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
