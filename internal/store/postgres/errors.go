package postgres

import "errors"

// errNotImplemented marks the parts of the port this backend does not
// implement yet (issue 13 is in progress); the conformance suite lists
// their tests as pending.
var errNotImplemented = errors.New("postgres: not implemented yet")

// Complete reports whether this build's PostgreSQL backend implements the
// whole storage port; until it does, flowwatch refuses to start on it
// rather than fail on the first request of a missing part.
const Complete = false
