package service

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/store"
)

// maxPage is the largest page of a listing (ListRevocations, ListUsers).
const maxPage = 1000

// pageSize is the page a request asks for: 0 or more than maxPage means
// maxPage.
func pageSize(asked int32) (int, error) {
	switch {
	case asked < 0:
		return 0, invalidArgument("page_size must not be negative")
	case asked == 0 || asked > maxPage:
		return maxPage, nil
	}
	return int(asked), nil
}

// ListRevocations implements authv1.AuthServiceServer.
func (s *Service) ListRevocations(ctx context.Context, req *authv1.ListRevocationsRequest) (*authv1.ListRevocationsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if req.GetSince() < 0 {
		return nil, invalidArgument("since must not be negative")
	}
	cursor := store.RevocationCursor{RevokedAt: time.Unix(req.GetSince(), 0).UTC()}
	if req.GetPageToken() != "" {
		var ok bool
		if cursor, ok = parsePageToken(req.GetPageToken()); !ok {
			return nil, invalidArgument("malformed page_token")
		}
	}
	page, now, err := s.sessions.Revocations(ctx, cursor, size)
	if err != nil {
		return nil, s.statusError(ctx, "list revocations", err)
	}
	resp := &authv1.ListRevocationsResponse{ServerTime: now.Unix()}
	for _, r := range page {
		resp.Revocations = append(resp.Revocations, &authv1.Revocation{
			Sid: r.SessionID, RevokedAt: r.RevokedAt.Unix(), ExpiresAt: r.ExpiresAt.Unix(),
		})
	}
	if len(page) == size {
		last := page[len(page)-1]
		resp.NextPageToken = pageToken(store.RevocationCursor{RevokedAt: last.RevokedAt, SessionID: last.SessionID})
	}
	return resp, nil
}

// A page token is base64url("<unix seconds>:<sid>"), opaque to callers.
func pageToken(c store.RevocationCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.RevokedAt.Unix(), 10) + ":" + c.SessionID))
}

func parsePageToken(tok string) (store.RevocationCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) > 256 {
		return store.RevocationCursor{}, false
	}
	at, sid, ok := strings.Cut(string(b), ":")
	sec, err := strconv.ParseInt(at, 10, 64)
	// A sid is base64url: anything else (NUL, invalid UTF-8, which some
	// databases refuse outright) is no token authd made.
	if !ok || err != nil || sec < 0 || sid == "" || !isBase64URL(sid) {
		return store.RevocationCursor{}, false
	}
	return store.RevocationCursor{RevokedAt: time.Unix(sec, 0).UTC(), SessionID: sid}, true
}

// CheckSession implements authv1.AuthServiceServer.
func (s *Service) CheckSession(ctx context.Context, req *authv1.CheckSessionRequest) (*authv1.CheckSessionResponse, error) {
	sid := req.GetSid()
	if sid == "" || len(sid) > 64 || !isBase64URL(sid) {
		return nil, invalidArgument("sid must be 1 to 64 base64url characters")
	}
	id, capAt, live, err := s.sessions.LiveSession(ctx, sid)
	if err != nil {
		return nil, s.statusError(ctx, "check session", err)
	}
	if !live {
		return &authv1.CheckSessionResponse{}, nil
	}
	return &authv1.CheckSessionResponse{Live: true, ExpiresAt: capAt.Unix(), Subject: id.Subject, Roles: id.Roles, Scopes: id.Scopes}, nil
}

// isBase64URL reports whether s holds only base64url characters, as the
// ids authd makes do.
func isBase64URL(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}
