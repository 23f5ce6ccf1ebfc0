// Package sql embeds the schema migrations so the binary migrates its database by itself.
package sql

import "embed"

// Migrations holds sql/schema/*.sql, applied in order by goose.
//
//go:embed schema/*.sql
var Migrations embed.FS
