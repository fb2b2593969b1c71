package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"unicode/utf8"

	"connectrpc.com/connect"

	notesv1 "github.com/authd-dev/authd/examples/connect/gen/notes/v1"
	"github.com/authd-dev/authd/examples/connect/gen/notes/v1/notesv1connect"

	"github.com/authd-dev/authd/connectauth"
	"github.com/authd-dev/authd/guard"
)

// newMux serves the NoteService behind authn: its interceptor decides
// every call by the method's option in notes.proto, and its middleware
// refuses a call without a token before its body is read.
func newMux(authn *connectauth.Authenticator) (*http.ServeMux, error) {
	path, handler := notesv1connect.NewNoteServiceHandler(&notes{byOwner: map[string][]string{}},
		connect.WithInterceptors(authn.Interceptor()),
		connect.WithReadMaxBytes(64<<10),
	)
	if err := authn.CheckServices(path); err != nil {
		return nil, err // names every method without a requirement
	}
	mux := http.NewServeMux()
	mux.Handle(path, authn.Middleware(handler))
	return mux, nil
}

// A user keeps at most maxNotes notes of at most maxNoteLength characters.
const (
	maxNotes      = 100
	maxNoteLength = 200
)

// notes keeps each user's notes in memory.
type notes struct {
	mu      sync.Mutex
	byOwner map[string][]string
}

func (n *notes) ListNotes(ctx context.Context, _ *connect.Request[notesv1.ListNotesRequest]) (*connect.Response[notesv1.ListNotesResponse], error) {
	claims, _ := guard.ClaimsFromContext(ctx) // always there: the method needs a token
	n.mu.Lock()
	defer n.mu.Unlock()
	return connect.NewResponse(&notesv1.ListNotesResponse{
		Owner: claims.Subject,
		Notes: append([]string(nil), n.byOwner[claims.Subject]...),
	}), nil
}

func (n *notes) AddNote(ctx context.Context, req *connect.Request[notesv1.AddNoteRequest]) (*connect.Response[notesv1.AddNoteResponse], error) {
	claims, _ := guard.ClaimsFromContext(ctx)
	text := req.Msg.GetText()
	if text == "" || utf8.RuneCountInString(text) > maxNoteLength {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("a note is 1 to %d characters", maxNoteLength))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.byOwner[claims.Subject]) >= maxNotes {
		return nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("at most %d notes", maxNotes))
	}
	n.byOwner[claims.Subject] = append(n.byOwner[claims.Subject], text)
	return connect.NewResponse(&notesv1.AddNoteResponse{Count: int32(len(n.byOwner[claims.Subject]))}), nil
}

func (n *notes) ClearNotes(ctx context.Context, _ *connect.Request[notesv1.ClearNotesRequest]) (*connect.Response[notesv1.ClearNotesResponse], error) {
	claims, _ := guard.ClaimsFromContext(ctx) // fresh, with a recent second factor
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.byOwner, claims.Subject)
	return connect.NewResponse(&notesv1.ClearNotesResponse{}), nil
}
