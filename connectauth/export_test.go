package connectauth

// StatusOf is err as a gRPC status error (status.FromError reads it): a
// connect error's code, message and details.
func StatusOf(err error) error { return asStatus(err) }
