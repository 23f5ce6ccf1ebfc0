package main

import (
	"os"
	"testing"

	"github.com/plano/planoauth/internal/dbtest"
	"github.com/plano/planoauth/internal/migrate"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m, migrate.Up)) }
