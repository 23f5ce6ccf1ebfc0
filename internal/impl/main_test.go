package impl_test

import (
	"os"
	"testing"

	"github.com/plano/planoauth/internal/apitest"
)

func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }
