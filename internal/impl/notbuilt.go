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

func (s *Server) ClientsRegister(ctx context.Context, r gen.ClientsRegisterRequestObject) (gen.ClientsRegisterResponseObject, error) {
	return nil, errNotBuilt
}

func (s *Server) ClientsCreate(ctx context.Context, r gen.ClientsCreateRequestObject) (gen.ClientsCreateResponseObject, error) {
	return nil, errNotBuilt
}

func (s *Server) UsersClientRegister(ctx context.Context, r gen.UsersClientRegisterRequestObject) (gen.UsersClientRegisterResponseObject, error) {
	return nil, errNotBuilt
}

func (s *Server) LiaisonsRegister(ctx context.Context, r gen.LiaisonsRegisterRequestObject) (gen.LiaisonsRegisterResponseObject, error) {
	return nil, errNotBuilt
}

func (s *Server) ScopesLiaisonRegister(ctx context.Context, r gen.ScopesLiaisonRegisterRequestObject) (gen.ScopesLiaisonRegisterResponseObject, error) {
	return nil, errNotBuilt
}
