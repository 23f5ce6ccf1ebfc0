package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// config is the environment, read once.
type config struct {
	databaseURL     string        // DATABASE_URL; empty: a private cluster under dataDir
	dataDir         string        // PLANOAUTH_DATA_DIR
	addr            string        // PLANOAUTH_ADDR
	logLevel        slog.Level    // PLANOAUTH_LOG_LEVEL
	shutdownTimeout time.Duration // PLANOAUTH_SHUTDOWN_TIMEOUT
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		databaseURL:     getenv("DATABASE_URL"),
		dataDir:         orDefault(getenv("PLANOAUTH_DATA_DIR"), ".data"),
		addr:            orDefault(getenv("PLANOAUTH_ADDR"), "127.0.0.1:8080"),
		shutdownTimeout: 15 * time.Second,
	}
	if err := c.logLevel.UnmarshalText([]byte(orDefault(getenv("PLANOAUTH_LOG_LEVEL"), "info"))); err != nil {
		return c, fmt.Errorf("PLANOAUTH_LOG_LEVEL: %w", err)
	}
	if v := getenv("PLANOAUTH_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("PLANOAUTH_SHUTDOWN_TIMEOUT: %w", err)
		}
		c.shutdownTimeout = d
	}
	return c, nil
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}
