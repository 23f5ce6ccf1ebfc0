package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen/db"
	"github.com/plano/planoauth/internal/impl"
)

const companiesUsage = `usage: planoauth companies members COMPANY_ID | approve COMPANY_ID CLIENT_ID | remove COMPANY_ID CLIENT_ID`

// companies is `planoauth companies ...`: an operator lists, approves and removes a company's
// members as an employee would (companies/members, approve_member, remove_member), with the same
// rules (an approved client's email must be verified; the owner cannot be removed).
func companies(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	ids, err := parseIDs(args)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "members" && len(ids) == 1:
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			return printMembership(ctx, d.q, ids[0], stdout)
		})
	case args[0] == "approve" && len(ids) == 2:
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			if err := impl.ApproveCompanyMember(ctx, d.pool, ids[0], ids[1]); err != nil {
				return answerError("approve", err)
			}
			fmt.Fprintf(stdout, "client %d is a member of company %d\n", ids[1], ids[0])
			return nil
		})
	case args[0] == "remove" && len(ids) == 2:
		return withDatabase(ctx, cfg, stderr, func(ctx context.Context, d *database) error {
			if err := impl.RemoveCompanyMember(ctx, d.pool, ids[0], ids[1]); err != nil {
				return answerError("remove", err)
			}
			fmt.Fprintf(stdout, "client %d is neither a member of company %d nor asking to join it\n", ids[1], ids[0])
			return nil
		})
	}
	return errors.New(companiesUsage)
}

// parseIDs reads the ids after the subcommand.
func parseIDs(args []string) ([]int64, error) {
	if len(args) < 2 {
		return nil, errors.New(companiesUsage)
	}
	ids := make([]int64, 0, len(args)-1)
	for _, arg := range args[1:] {
		id, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || id < 1 {
			return nil, fmt.Errorf("%q is not an id\n%s", arg, companiesUsage)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func printMembership(ctx context.Context, q *db.Queries, companyID int64, stdout io.Writer) error {
	m, err := impl.ListCompanyMembers(ctx, q, companyID)
	if err != nil {
		return answerError("list members", err)
	}
	kind := "company"
	if m.Company.Enterprise {
		kind = "enterprise company"
	}
	fmt.Fprintf(stdout, "%s %d: %s\n", kind, m.Company.ID, m.Company.Name)
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STATE\tCLIENT\tEMAIL\tVERIFIED\tSINCE")
	for _, r := range m.Members {
		state := "member"
		if r.Owner {
			state = "owner"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%t\t\n", state, r.ClientProfile.ID, r.ClientProfile.Email, r.EmailVerified)
	}
	for _, r := range m.Requests {
		fmt.Fprintf(w, "requested\t%d\t%s\t%t\t%s\n", r.ClientProfile.ID, r.ClientProfile.Email, r.EmailVerified, formatTime(r.RequestedAt))
	}
	return w.Flush()
}

// answerError turns a refusal of the domain rules into the operator's message.
func answerError(what string, err error) error {
	var answer *envelope.Error
	if !errors.As(err, &answer) || answer.Cause != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var problems []string
	for _, p := range answer.Params {
		problems = append(problems, p.Param+" "+p.Message)
	}
	if answer.Message != "" {
		problems = append(problems, answer.Message)
	}
	return fmt.Errorf("%s: %s", what, strings.Join(problems, "; "))
}
