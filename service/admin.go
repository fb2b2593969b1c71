package service

import (
	"context"
	"encoding/base64"
	"unicode/utf8"

	"github.com/authd-dev/authd/accounts"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/store"
)

// admin implements authv1.AdminServiceServer over the Service's accounts.
// Who may call it is declared in admin.proto (the role authd:admin, fresh
// tokens for changes) and enforced by the Service's Authenticator.
type admin struct {
	authv1.UnimplementedAdminServiceServer
	s *Service
}

func (a admin) ListUsers(ctx context.Context, req *authv1.ListUsersRequest) (*authv1.ListUsersResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after := ""
	if tok := req.GetPageToken(); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) > accounts.MaxUsername || !utf8.Valid(b) {
			return nil, invalidArgument("malformed page_token")
		}
		after = string(b)
	}
	users, err := a.s.accounts.Users(ctx, after, size)
	if err != nil {
		return nil, a.s.statusError(ctx, "list users", err)
	}
	resp := &authv1.ListUsersResponse{}
	for _, u := range users {
		resp.Users = append(resp.Users, userMessage(u))
	}
	if len(users) == size {
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(users[len(users)-1].Name))
	}
	return resp, nil
}

func (a admin) CreateUser(ctx context.Context, req *authv1.CreateUserRequest) (*authv1.CreateUserResponse, error) {
	u, err := a.s.accounts.CreateUser(ctx, req.GetUsername(), req.GetPassword(), req.GetRoles())
	if err != nil {
		return nil, a.s.statusError(ctx, "create user", err)
	}
	a.audit(ctx, "user created", "user", u.Name, "roles", u.Roles)
	return &authv1.CreateUserResponse{User: userMessage(u)}, nil
}

func (a admin) DisableUser(ctx context.Context, req *authv1.DisableUserRequest) (*authv1.DisableUserResponse, error) {
	n, err := a.setDisabled(ctx, req.GetUsername(), true)
	if err != nil {
		return nil, err
	}
	return &authv1.DisableUserResponse{RevokedSessions: int32(n)}, nil
}

func (a admin) EnableUser(ctx context.Context, req *authv1.EnableUserRequest) (*authv1.EnableUserResponse, error) {
	if _, err := a.setDisabled(ctx, req.GetUsername(), false); err != nil {
		return nil, err
	}
	return &authv1.EnableUserResponse{}, nil
}

func (a admin) setDisabled(ctx context.Context, name string, disabled bool) (int, error) {
	if _, err := a.s.accounts.User(ctx, name); err != nil {
		return 0, a.s.statusError(ctx, "disable user", err)
	}
	n, err := a.s.accounts.SetDisabled(ctx, name, disabled)
	if err != nil {
		return 0, a.s.statusError(ctx, "disable user", err)
	}
	a.s.cfg.Metrics.revoked("disabled", n)
	a.audit(ctx, "user disabled or enabled", "user", name, "disabled", disabled, "revoked_sessions", n)
	return n, nil
}

func (a admin) SetRoles(ctx context.Context, req *authv1.SetRolesRequest) (*authv1.SetRolesResponse, error) {
	u, n, err := a.s.accounts.SetRoles(ctx, req.GetUsername(), req.GetRoles())
	if err != nil {
		return nil, a.s.statusError(ctx, "set roles", err)
	}
	a.s.cfg.Metrics.revoked("roles_changed", n)
	a.audit(ctx, "roles set", "user", u.Name, "roles", u.Roles, "revoked_sessions", n)
	return &authv1.SetRolesResponse{User: userMessage(u), RevokedSessions: int32(n)}, nil
}

func (a admin) ListSessions(ctx context.Context, req *authv1.ListSessionsRequest) (*authv1.ListSessionsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	var after store.SessionCursor
	if tok := req.GetPageToken(); tok != "" {
		c, ok := parsePageToken(tok) // "<unix seconds>:<sid>", as ListRevocations'
		if !ok {
			return nil, invalidArgument("malformed page_token")
		}
		after = store.SessionCursor{CreatedAt: c.RevokedAt, ID: c.SessionID}
	}
	sessions, err := a.s.accounts.Sessions(ctx, req.GetUsername(), after, size)
	if err != nil {
		return nil, a.s.statusError(ctx, "list sessions", err)
	}
	resp := &authv1.ListSessionsResponse{}
	for _, sess := range sessions {
		resp.Sessions = append(resp.Sessions, &authv1.Session{
			Sid: sess.ID, AuthTime: sess.AuthTime.Unix(), CreatedAt: sess.CreatedAt.Unix(), ExpiresAt: sess.ExpiresAt.Unix(),
		})
	}
	if len(sessions) == size {
		last := sessions[len(sessions)-1]
		resp.NextPageToken = pageToken(store.RevocationCursor{RevokedAt: last.CreatedAt, SessionID: last.ID})
	}
	return resp, nil
}

func (a admin) RevokeSession(ctx context.Context, req *authv1.RevokeSessionRequest) (*authv1.RevokeSessionResponse, error) {
	if req.GetSid() == "" {
		return nil, invalidArgument("sid is empty")
	}
	if err := a.s.accounts.RevokeSession(ctx, req.GetSid()); err != nil {
		return nil, a.s.statusError(ctx, "revoke session", err)
	}
	a.s.cfg.Metrics.revoked("admin", 1)
	a.audit(ctx, "session revoked", "sid", req.GetSid())
	return &authv1.RevokeSessionResponse{}, nil
}

func (a admin) CreateClient(ctx context.Context, req *authv1.CreateClientRequest) (*authv1.CreateClientResponse, error) {
	c, secret, err := a.s.accounts.CreateClient(ctx, req.GetName(), req.GetScopes())
	if err != nil {
		return nil, a.s.statusError(ctx, "create client", err)
	}
	a.audit(ctx, "client created", "client", c.Name, "scopes", c.Scopes)
	return &authv1.CreateClientResponse{Client: clientMessage(c), ClientSecret: secret}, nil
}

func (a admin) ListClients(ctx context.Context, _ *authv1.ListClientsRequest) (*authv1.ListClientsResponse, error) {
	clients, err := a.s.accounts.Clients(ctx)
	if err != nil {
		return nil, a.s.statusError(ctx, "list clients", err)
	}
	resp := &authv1.ListClientsResponse{}
	for _, c := range clients {
		resp.Clients = append(resp.Clients, clientMessage(c))
	}
	return resp, nil
}

func (a admin) DisableClient(ctx context.Context, req *authv1.DisableClientRequest) (*authv1.DisableClientResponse, error) {
	n, err := a.s.accounts.SetClientDisabled(ctx, req.GetName(), true)
	if err != nil {
		return nil, a.s.statusError(ctx, "disable client", err)
	}
	a.s.cfg.Metrics.revoked("disabled", n)
	a.audit(ctx, "client disabled", "client", req.GetName(), "revoked_sessions", n)
	return &authv1.DisableClientResponse{RevokedSessions: int32(n)}, nil
}

func (a admin) EnableClient(ctx context.Context, req *authv1.EnableClientRequest) (*authv1.EnableClientResponse, error) {
	if _, err := a.s.accounts.SetClientDisabled(ctx, req.GetName(), false); err != nil {
		return nil, a.s.statusError(ctx, "enable client", err)
	}
	a.audit(ctx, "client enabled", "client", req.GetName())
	return &authv1.EnableClientResponse{}, nil
}

func (a admin) RotateClientSecret(ctx context.Context, req *authv1.RotateClientSecretRequest) (*authv1.RotateClientSecretResponse, error) {
	secret, n, err := a.s.accounts.RotateClientSecret(ctx, req.GetName())
	if err != nil {
		return nil, a.s.statusError(ctx, "rotate client secret", err)
	}
	a.s.cfg.Metrics.revoked("secret_rotated", n)
	a.audit(ctx, "client secret rotated", "client", req.GetName(), "revoked_sessions", n)
	return &authv1.RotateClientSecretResponse{ClientSecret: secret, RevokedSessions: int32(n)}, nil
}

// audit logs an administrative change with the administrator who made it.
func (a admin) audit(ctx context.Context, msg string, args ...any) {
	if c, ok := guard.ClaimsFromContext(ctx); ok {
		args = append(args, "admin", c.Subject)
	}
	a.s.cfg.Logger.InfoContext(ctx, msg, args...)
}

// ResetSecondFactors implements authv1.AdminServiceServer.
func (a admin) ResetSecondFactors(ctx context.Context, req *authv1.ResetSecondFactorsRequest) (*authv1.ResetSecondFactorsResponse, error) {
	n, err := a.s.accounts.ResetSecondFactors(ctx, req.GetUsername())
	if err != nil {
		return nil, a.s.statusError(ctx, "reset second factors", err)
	}
	a.audit(ctx, "second factors reset", "user", req.GetUsername(), "removed", n)
	return &authv1.ResetSecondFactorsResponse{Removed: int32(n)}, nil
}

func userMessage(u store.User) *authv1.User {
	return &authv1.User{Username: u.Name, Roles: u.Roles, Disabled: u.Disabled, CreatedAt: u.CreatedAt.Unix(), UpdatedAt: u.UpdatedAt.Unix(),
		SecondFactor: u.SecondFactor}
}

func clientMessage(c store.User) *authv1.Client {
	return &authv1.Client{Name: accounts.ClientName(c), ClientId: c.ClientID, Scopes: c.Scopes, Disabled: c.Disabled, CreatedAt: c.CreatedAt.Unix()}
}
