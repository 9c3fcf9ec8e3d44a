package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"vendgate/gateway/internal/store"
)

// Subcodes put in the "subcode" attribute of error responses (spec "Errors": a
// number of the internal classification, for debugging; clients go by the HTTP
// status). The OAuth errors of /auth use the RFC 6749 error codes instead.
const (
	SubMalformed      = "E400"  // body is not valid JSON or not an object, or a query parameter is malformed
	SubPeriodTooLong  = "E4001" // events: since..until longer than MaxPeriod
	SubPeriodTooDeep  = "E4002" // events: since older than MaxDepth
	SubPeriodReversed = "E4003" // events: until before since
	SubUnauthorized   = "E401"
	SubForbidden      = "E403"
	SubNotFound       = "E404"
	SubMethod         = "E405"
	SubConflict       = "E409"
	SubTooLarge       = "E413"
	SubMediaType      = "E415"
	SubInvalid        = "E422"
	SubInternal       = "E500"
	SubNotReady       = "E503"

	// OAuth 2.0 error codes (RFC 6749 §5.2) used as subcodes by POST /auth.
	SubInvalidRequest   = "invalid_request"
	SubInvalidClient    = "invalid_client"
	SubInvalidGrant     = "invalid_grant"
	SubUnsupportedGrant = "unsupported_grant_type"
	SubInvalidScope     = "invalid_scope"
)

// msgInvalid is Laravel's validation message, which the spec's 422 examples show.
const msgInvalid = "The given data was invalid."

// apiError is an error response. Handlers return it; the router writes it in the
// spec shape {"message", "subcode", "errors"} plus any extra top-level fields
// (dispense and vendista-credit have their own 422 bodies in the spec).
type apiError struct {
	Status  int
	Message string
	Subcode string
	Errors  map[string][]string
	Extra   map[string]any
	Cause   error // internal cause, logged for 5xx and never sent
}

func (e *apiError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("api: %d %s: %v", e.Status, e.Message, e.Cause)
	}
	return fmt.Sprintf("api: %d %s", e.Status, e.Message)
}

func (e *apiError) Unwrap() error { return e.Cause }

func errStatus(status int, subcode, msg string) *apiError {
	return &apiError{Status: status, Message: msg, Subcode: subcode}
}

func errBadRequest(msg string) *apiError {
	return errStatus(http.StatusBadRequest, SubMalformed, msg)
}

func errNotFound(msg string) *apiError {
	return errStatus(http.StatusNotFound, SubNotFound, msg)
}

func errUnauthenticated() *apiError {
	return errStatus(http.StatusUnauthorized, SubUnauthorized, "Unauthenticated")
}

func errForbidden() *apiError {
	return errStatus(http.StatusForbidden, SubForbidden, "This action is unauthorized.")
}

// errValidation is the Laravel-style 422 of the spec examples.
func errValidation(errs map[string][]string) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Message: msgInvalid, Subcode: SubInvalid, Errors: errs}
}

// errField is a 422 about one field.
func errField(field, msg string) *apiError {
	return errValidation(map[string][]string{field: {msg}})
}

func errInternal(cause error) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Message: "Server error", Subcode: SubInternal, Cause: cause}
}

// toAPIError maps any handler error to the response to send.
func toAPIError(err error) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, store.ErrNotFound):
		return errNotFound("Not found")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusServiceUnavailable, Message: "Request cancelled", Subcode: SubNotReady, Cause: err}
	default:
		return errInternal(err)
	}
}

// errorBody renders e in the spec's error shape.
func (e *apiError) body() map[string]any {
	b := make(map[string]any, 3+len(e.Extra))
	for k, v := range e.Extra {
		b[k] = v
	}
	b["message"] = e.Message
	if e.Subcode != "" {
		b["subcode"] = e.Subcode
	}
	if len(e.Errors) > 0 {
		b["errors"] = e.Errors
	}
	return b
}
