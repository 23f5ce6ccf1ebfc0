// Command planoauth is the PlanoAuth service and its operator tools.
//
//	planoauth serve                         run the HTTP service
//	planoauth migrate                       apply pending migrations and exit
//	planoauth applications list             list applications
//	planoauth applications create SLUG NAME add an application and print its token once
//	planoauth applications rotate-token SLUG give an application a new token, printed once
//	planoauth applications session-policy SLUG [--lifetime D] [--idle-timeout D] [--remember-me-max-age D|none]
//	planoauth applications redirects list|add|remove SLUG [ORIGIN]  the redirect_url allow-list
//	planoauth applications require-mfa SLUG on|off  require a second factor of every session
//	planoauth routes list                   list services and routes with their deployed state
//	planoauth routes deploy|undeploy ROUTE  deploy or undeploy a route (operationId or path)
//	planoauth routes deploy|undeploy --service NAME
//	planoauth sessions revoke --user EMAIL  revoke every session of a user
//	planoauth users reset-mfa EMAIL --by NAME --reason TEXT [--keep-password]  support's way back in: drop a user's second factors
//	planoauth companies members COMPANY_ID  a company's members and membership requests
//	planoauth companies approve|remove COMPANY_ID CLIENT_ID
//	planoauth audit list [--user ...]       the audit trail, newest first
//	planoauth webhooks set|list|delete|rotate-secret|replay  applications' webhooks
//	planoauth notifications list [--limit N] what operators must look at, newest first
//	planoauth emails list [--limit N]       emails the local mailer recorded instead of sending
//	planoauth emails show ID                one recorded email with its body
//
// Configuration is environment variables; see README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "planoauth:", err)
		os.Exit(1)
	}
}

const usage = `usage: planoauth <command>

commands:
  serve                           run the HTTP service
  migrate                         apply pending migrations and exit
  applications list               list applications
  applications create SLUG NAME   add an application the contract lists (shaped like planoorder)
                                  and print its token once
  applications rotate-token SLUG  give an application a new token and print it once
  applications session-policy SLUG [--lifetime D] [--idle-timeout D] [--remember-me-max-age D|none]
                                  show or set how long the application's sessions live (7d,
                                  72h and none unless set; 5m to 3650d); reaches every instance
                                  at once
  applications redirects list SLUG
  applications redirects add|remove SLUG ORIGIN
                                  the origins (https://app.example) the application's
                                  redirect_url values may point at; none: only the
                                  service's own origin
  applications require-mfa SLUG on|off
                                  require a second factor (aal2) of every session in the
                                  application; a user without one may only enrol one
  routes list                     list services and routes with their deployed state
  routes deploy|undeploy ROUTE    deploy or undeploy a route: an operationId (sessionsCreate)
                                  or a path (/api/v1/sessions/create); undeployed routes
                                  answer route-not-found on every instance
  routes deploy|undeploy --service NAME
                                  deploy or undeploy a whole service (service-not-found)
  sessions revoke --user EMAIL    revoke every session of a user and print how many
  users reset-mfa EMAIL --by NAME --reason TEXT [--keep-password]
                                  once support verified the owner out of band: remove every
                                  second factor and recovery code of the user, its password
                                  (unless --keep-password) and every session, record
                                  mfa.reset_by_operator with who (--by) and why (--reason),
                                  and email the owner
  companies members COMPANY_ID    a company's members (the owner first) and the clients asking
                                  to join it, with whether each email is verified
  companies approve COMPANY_ID CLIENT_ID
                                  make a client (whose email is verified) a member, as an
                                  employee would, taking its request if it has one
  companies remove COMPANY_ID CLIENT_ID
                                  end a membership or refuse a request (not the owner's)
  audit list [--user EMAIL|ID] [--kind KIND] [--application SLUG] [--after ID | --before ID] [--limit N]
                                  the audit trail, newest first (oldest first after an id)
  webhooks set SLUG URL           register (or move) an application's webhook; a new one's
                                  whsec_ signing secret is printed once
  webhooks list                   every webhook and its deliveries
  webhooks delete SLUG            delete an application's webhook and its pending deliveries
  webhooks rotate-secret SLUG     a new signing secret, printed once; the old one also signs
                                  for a day
  webhooks replay SLUG --after ID send the application's events after ID again
  notifications list [--limit N]  what operators must look at (failed emails), newest first
  emails list [--limit N]         emails the local mailer recorded instead of sending (no
                                  Mandrill key), newest first
  emails show ID                  one recorded email with its body (sign-in links included)`

// run is the whole program, with its inputs passed in so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command given\n%s", usage)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	switch args[0] {
	case "serve":
		return serve(ctx, cfg, stdout, stderr)
	case "migrate":
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			fmt.Fprintln(stdout, "migrations applied")
			return nil
		})
	case "applications":
		return applications(ctx, cfg, args[1:], stdout, stderr)
	case "routes":
		return routes(ctx, cfg, args[1:], stdout, stderr)
	case "sessions":
		return sessions(ctx, cfg, args[1:], stdout, stderr)
	case "companies":
		return companies(ctx, cfg, args[1:], stdout, stderr)
	case "users":
		return users(ctx, cfg, args[1:], stdout, stderr)
	case "audit":
		return auditList(ctx, cfg, args[1:], stdout, stderr)
	case "webhooks":
		return webhooksCommand(ctx, cfg, args[1:], stdout, stderr)
	case "notifications":
		return notifications(ctx, cfg, args[1:], stdout, stderr)
	case "emails":
		return emails(ctx, cfg, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}
