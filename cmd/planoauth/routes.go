package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/plano/planoauth/internal/gen/db"
)

const routesUsage = `usage: planoauth routes list
       planoauth routes deploy|undeploy ROUTE
       planoauth routes deploy|undeploy --service NAME
ROUTE is an operationId (sessionsCreate) or a path (/api/v1/sessions/create);
NAME is a service, one per domain (sessions, clients, ...)`

// emptyRegistryHint explains an empty registry: serve syncs it from the contract at start-up,
// and this command does not, so that an older binary cannot rewrite a newer contract's routes.
const emptyRegistryHint = "the route registry is empty: start `planoauth serve` once to sync it from the contract"

func routes(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(routesUsage)
	}
	switch verb := args[0]; verb {
	case "list":
		if len(args) != 1 {
			return errors.New(routesUsage)
		}
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return listRoutes(ctx, d.q, stdout)
		})
	case "deploy", "undeploy":
		target, err := parseRouteTarget(verb, args[1:])
		if err != nil {
			return err
		}
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			if target.service != "" {
				return setServiceDeployed(ctx, d.q, target.service, verb == "deploy", stdout)
			}
			return setRouteDeployed(ctx, d.q, target.route, verb == "deploy", stdout)
		})
	}
	return fmt.Errorf("unknown routes command %q\n%s", args[0], routesUsage)
}

// routeTarget is what deploy and undeploy act on: one route or a whole service.
type routeTarget struct {
	route   string
	service string
}

// parseRouteTarget reads `ROUTE` or `--service NAME`, exactly one of them.
func parseRouteTarget(verb string, args []string) (routeTarget, error) {
	fs := flag.NewFlagSet("routes "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error returned says it all, with the usage
	service := fs.String("service", "", "a service (domain) name")
	if err := fs.Parse(args); err != nil {
		return routeTarget{}, fmt.Errorf("routes %s: %w\n%s", verb, err, routesUsage)
	}
	switch {
	case *service != "" && fs.NArg() == 0:
		return routeTarget{service: *service}, nil
	case *service == "" && fs.NArg() == 1 && fs.Arg(0) != "":
		return routeTarget{route: fs.Arg(0)}, nil
	}
	return routeTarget{}, fmt.Errorf("routes %s needs one route or --service NAME\n%s", verb, routesUsage)
}

// listRoutes prints the services, then the routes, each with its deployed state.
func listRoutes(ctx context.Context, q *db.Queries, stdout io.Writer) error {
	services, err := q.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	routes, err := q.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	if len(services) == 0 && len(routes) == 0 {
		fmt.Fprintln(stdout, emptyRegistryHint)
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERVICE\tSTATE")
	for _, s := range services {
		fmt.Fprintf(w, "%s\t%s\n", s.Name, deployedState(s.Deployed))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "ROUTE\tSERVICE\tMETHOD\tPATH\tSTATE")
	for _, r := range routes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.OperationID, r.Service, r.Method, r.Path, deployedState(r.Deployed))
	}
	return w.Flush()
}

func deployedState(deployed bool) string {
	if deployed {
		return "deployed"
	}
	return "undeployed"
}

// setRouteDeployed deploys or undeploys the routes named by operationId or path. Every instance
// hears of it through the registry's notification (see registry.Watch).
func setRouteDeployed(ctx context.Context, q *db.Queries, name string, deployed bool, stdout io.Writer) error {
	all, err := q.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	var matched []db.Route
	for _, r := range all {
		if r.OperationID == name || r.Path == name {
			matched = append(matched, r)
		}
	}
	if len(matched) == 0 {
		return unknownName("route", name, len(all) == 0,
			"give an operationId such as sessionsCreate or a path such as /api/v1/sessions/create")
	}
	if _, err := q.SetRouteDeployed(ctx, db.SetRouteDeployedParams{Route: name, Deployed: deployed}); err != nil {
		return fmt.Errorf("set route %s deployed=%t: %w", name, deployed, err)
	}
	for _, r := range matched {
		fmt.Fprintf(stdout, "route %s (%s %s): %s\n", r.OperationID, r.Method, r.Path, change(r.Deployed, deployed, "route-not-found"))
	}
	return warnUndeployedServices(ctx, q, matched, deployed, stdout)
}

// warnUndeployedServices tells the operator that a deployed route still answers
// service-not-found while its service is undeployed.
func warnUndeployedServices(ctx context.Context, q *db.Queries, routes []db.Route, deployed bool, stdout io.Writer) error {
	if !deployed {
		return nil
	}
	services, err := q.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	undeployed := map[string]bool{}
	for _, s := range services {
		undeployed[s.Name] = !s.Deployed
	}
	for _, r := range routes {
		if undeployed[r.Service] {
			fmt.Fprintf(stdout, "note: service %s is undeployed, so %s still answers service-not-found (planoauth routes deploy --service %s)\n",
				r.Service, r.OperationID, r.Service)
		}
	}
	return nil
}

// setServiceDeployed deploys or undeploys a whole service.
func setServiceDeployed(ctx context.Context, q *db.Queries, name string, deployed bool, stdout io.Writer) error {
	services, err := q.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	var names []string
	for _, s := range services {
		names = append(names, s.Name)
		if s.Name != name {
			continue
		}
		if _, err := q.SetServiceDeployed(ctx, db.SetServiceDeployedParams{Name: name, Deployed: deployed}); err != nil {
			return fmt.Errorf("set service %s deployed=%t: %w", name, deployed, err)
		}
		fmt.Fprintf(stdout, "service %s: %s\n", name, change(s.Deployed, deployed, "service-not-found"))
		return nil
	}
	return unknownName("service", name, len(services) == 0, "services: "+strings.Join(names, ", "))
}

// change describes a deployed flag going from was to now, and what callers see after it.
func change(was, now bool, undeployedStatus string) string {
	switch {
	case was == now && now:
		return "already deployed"
	case was == now:
		return "already undeployed; it answers " + undeployedStatus
	case now:
		return "deployed; every instance serves it again"
	}
	return "undeployed; every instance answers " + undeployedStatus
}

func unknownName(kind, name string, registryEmpty bool, hint string) error {
	if registryEmpty {
		return fmt.Errorf("unknown %s %q: %s", kind, name, emptyRegistryHint)
	}
	return fmt.Errorf("unknown %s %q (%s; `planoauth routes list` shows them all)", kind, name, hint)
}
