package impl

import (
	"context"

	"github.com/plano/planoauth/internal/envelope"
	"github.com/plano/planoauth/internal/gen"
)

// The operations below have no handler yet. They answer route-not-found, which is what the
// documentation says that slug means: the route's record has not been deployed yet.
// Each moves to its domain file when it is built.

var errNotBuilt = envelope.New(gen.StatusRouteNotFound)

func (s *Server) SessionsGoogle(ctx context.Context, r gen.SessionsGoogleRequestObject) (gen.SessionsGoogleResponseObject, error) {
	return nil, errNotBuilt
}

func (s *Server) SessionsMagicLinkRequest(ctx context.Context, r gen.SessionsMagicLinkRequestRequestObject) (gen.SessionsMagicLinkRequestResponseObject, error) {
	return nil, errNotBuilt
}

func (s *Server) SessionsMagicLinkCreate(ctx context.Context, r gen.SessionsMagicLinkCreateRequestObject) (gen.SessionsMagicLinkCreateResponseObject, error) {
	return nil, errNotBuilt
}
