package main

import (
	"context"
	"strings"
	"testing"
)

// routeDeployed reads a route's deployed flag from the database.
func (d *testDB) routeDeployed(t *testing.T, operationID string) bool {
	t.Helper()
	routes, err := d.q.ListRoutes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.OperationID == operationID {
			return r.Deployed
		}
	}
	t.Fatalf("no route %s", operationID)
	return false
}

// serviceDeployed reads a service's deployed flag from the database.
func (d *testDB) serviceDeployed(t *testing.T, name string) bool {
	t.Helper()
	services, err := d.q.ListServices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		if s.Name == name {
			return s.Deployed
		}
	}
	t.Fatalf("no service %s", name)
	return false
}

// lineOf returns the output line that starts with prefix.
func lineOf(t *testing.T, out, prefix string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			return strings.Fields(line)
		}
	}
	t.Fatalf("no line for %s in:\n%s", prefix, out)
	return nil
}

func TestRoutesList(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, true)
	d.mustCLI(t, "routes", "undeploy", "sessionsIndex")
	out := d.mustCLI(t, "routes", "list")
	for prefix, want := range map[string]string{
		"SERVICE":        "SERVICE STATE",
		"sessions":       "sessions deployed",
		"ROUTE":          "ROUTE SERVICE METHOD PATH STATE",
		"sessionsCreate": "sessionsCreate sessions POST /api/v1/sessions/create deployed",
		"sessionsIndex":  "sessionsIndex sessions GET /api/v1/sessions/index undeployed",
	} {
		if got := strings.Join(lineOf(t, out, prefix), " "); got != want {
			t.Errorf("line %q, want %q", got, want)
		}
	}
}

func TestRoutesDeploy(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, true)
	t.Run("ByOperationID", func(t *testing.T) {
		out := d.mustCLI(t, "routes", "undeploy", "sessionsCreate")
		if want := "route sessionsCreate (POST /api/v1/sessions/create): undeployed; every instance answers route-not-found\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		if d.routeDeployed(t, "sessionsCreate") {
			t.Error("sessionsCreate is still deployed")
		}
		if !d.routeDeployed(t, "sessionsRead") {
			t.Error("sessionsRead was undeployed too")
		}
		out = d.mustCLI(t, "routes", "undeploy", "sessionsCreate")
		if !strings.Contains(out, "already undeployed") {
			t.Errorf("printed %q, want it to say the route was already undeployed", out)
		}
		d.mustCLI(t, "routes", "deploy", "sessionsCreate")
		if !d.routeDeployed(t, "sessionsCreate") {
			t.Error("sessionsCreate is not deployed again")
		}
	})
	t.Run("ByPath", func(t *testing.T) {
		d.mustCLI(t, "routes", "undeploy", "/api/v1/coexistence/index")
		if d.routeDeployed(t, "coexistenceIndex") {
			t.Error("coexistenceIndex is still deployed")
		}
		d.mustCLI(t, "routes", "deploy", "/api/v1/coexistence/index")
		if !d.routeDeployed(t, "coexistenceIndex") {
			t.Error("coexistenceIndex is not deployed again")
		}
	})
	t.Run("Service", func(t *testing.T) {
		out := d.mustCLI(t, "routes", "undeploy", "--service", "coexistence")
		if want := "service coexistence: undeployed; every instance answers service-not-found\n"; out != want {
			t.Errorf("printed %q, want %q", out, want)
		}
		if d.serviceDeployed(t, "coexistence") || !d.serviceDeployed(t, "sessions") {
			t.Error("want coexistence undeployed and sessions deployed")
		}
		// Deploying a route of an undeployed service is allowed, with a warning.
		out = d.mustCLI(t, "routes", "deploy", "coexistenceTouch")
		if !strings.Contains(out, "note: service coexistence is undeployed") {
			t.Errorf("printed %q, want a note that the service is undeployed", out)
		}
		d.mustCLI(t, "routes", "deploy", "--service=coexistence")
		if !d.serviceDeployed(t, "coexistence") {
			t.Error("coexistence is not deployed again")
		}
	})
	t.Run("ErrUnknownRoute", func(t *testing.T) {
		_, err := d.cli(t, "routes", "undeploy", "sessionsExplode")
		if err == nil || !strings.Contains(err.Error(), `unknown route "sessionsExplode"`) {
			t.Errorf("err = %v, want unknown route", err)
		}
	})
	t.Run("ErrUnknownService", func(t *testing.T) {
		_, err := d.cli(t, "routes", "deploy", "--service", "planets")
		if err == nil || !strings.Contains(err.Error(), `unknown service "planets"`) || !strings.Contains(err.Error(), "sessions") {
			t.Errorf("err = %v, want unknown service listing the services", err)
		}
	})
	t.Run("ErrUsage", func(t *testing.T) {
		for _, args := range [][]string{
			{"routes"},
			{"routes", "remove", "sessionsCreate"},
			{"routes", "list", "extra"},
			{"routes", "undeploy"},
			{"routes", "undeploy", "sessionsCreate", "sessionsRead"},
			{"routes", "undeploy", "sessionsCreate", "--service", "sessions"},
			{"routes", "undeploy", "--service", "sessions", "sessionsCreate"},
			{"routes", "deploy", "--everything"},
		} {
			_, err := d.cli(t, args...)
			if err == nil || !strings.Contains(err.Error(), "usage: planoauth routes") {
				t.Errorf("planoauth %v: err = %v, want the routes usage", args, err)
			}
		}
	})
}

func TestRoutesEmptyRegistry(t *testing.T) {
	t.Parallel()
	d := newTestDB(t, false)
	if out := d.mustCLI(t, "routes", "list"); !strings.Contains(out, "registry is empty") {
		t.Errorf("printed %q, want the empty-registry hint", out)
	}
	_, err := d.cli(t, "routes", "undeploy", "sessionsCreate")
	if err == nil || !strings.Contains(err.Error(), "planoauth serve") {
		t.Errorf("err = %v, want the empty-registry hint", err)
	}
}
