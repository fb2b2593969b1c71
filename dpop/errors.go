package dpop

import (
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/authd-dev/authd/wire"
)

// The refusals of a Verifier, each a row of the error table
// (docs/errors.md). ErrProofInvalid is detailed with what is wrong, in a
// copy errors.Is still matches to it.
var (
	// ErrProofRequired: the call carries no proof, or a token bound to a
	// key is presented without one (or as a Bearer token).
	ErrProofRequired = wire.NewError(codes.Unauthenticated, wire.ReasonDPoPProofRequired, "DPoP proof required")
	// ErrProofInvalid: the proof does not check (its form, signature, key,
	// typ, alg, htm, htu, iat, ath or jti, or its size).
	ErrProofInvalid = wire.NewError(codes.Unauthenticated, wire.ReasonDPoPProofInvalid, "invalid DPoP proof")
	// ErrNonceRequired: the proof lacks a nonce this verifier issued, or
	// its nonce has expired. NonceRequired details it with a fresh one,
	// which the client signs into a new proof.
	ErrNonceRequired = wire.NewError(codes.Unauthenticated, wire.ReasonDPoPNonceRequired, "DPoP nonce required")
	// ErrBusy: the replay cache is full of proofs still within their
	// window; the proof was not checked against it, so it is refused
	// rather than accepted twice. Retry after the delay.
	ErrBusy = wire.NewError(codes.Unavailable, "", "DPoP replay cache full")
)

// MetadataNonce is the ErrorInfo metadata key of DPOP_NONCE_REQUIRED that
// carries the nonce, as the response header wire.DPoPNonceHeader does.
const MetadataNonce = "nonce"

func invalid(what string) error {
	return ErrProofInvalid.Detail("invalid DPoP proof: "+what, nil, 0)
}

// NonceRequired is ErrNonceRequired carrying nonce in its ErrorInfo
// metadata (MetadataNonce).
func NonceRequired(nonce string) error {
	return ErrNonceRequired.Detail("DPoP nonce required: sign a new proof with the nonce of the dpop-nonce header",
		map[string]string{MetadataNonce: nonce}, 0)
}

// NonceOf returns the nonce of a DPOP_NONCE_REQUIRED refusal: from the
// NonceRequired in err's chain (a server's adapter, which sends it in the
// dpop-nonce header), or from the ErrorInfo of a gRPC status error (a
// client that did not read the header).
func NonceOf(err error) (string, bool) {
	var e *wire.Error
	if errors.As(err, &e) {
		if errors.Is(e, ErrNonceRequired) && e.Metadata[MetadataNonce] != "" {
			return e.Metadata[MetadataNonce], true
		}
		return "", false
	}
	st, ok := status.FromError(err)
	if !ok {
		return "", false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == wire.Domain &&
			info.GetReason() == wire.ReasonDPoPNonceRequired && info.GetMetadata()[MetadataNonce] != "" {
			return info.GetMetadata()[MetadataNonce], true
		}
	}
	return "", false
}
