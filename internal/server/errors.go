package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"

	"github.com/powersync-go/powersync/protocol"
)

// Client-facing errors of the HTTP layer. Each is a *protocol.Error: a stable
// code, an HTTP status and a message that never contains internal details.
var (
	errNotFound = &protocol.Error{Name: protocol.NameRouteNotFound, Code: protocol.CodeNotFound,
		Status: http.StatusNotFound, Description: "Route not found"}
	errShuttingDown = &protocol.Error{Name: protocol.NameServiceUnavailable, Code: protocol.CodeShuttingDown,
		Status: http.StatusServiceUnavailable, Description: "Service is shutting down"}
	errTooManyConnections = &protocol.Error{Name: protocol.NameTooManyRequests, Code: protocol.CodeTooManyConnections,
		Status: http.StatusTooManyRequests, Description: "Maximum number of concurrent sync connections reached"}
	errNoSyncConfig = &protocol.Error{Name: protocol.NameServiceError, Code: protocol.CodeNoSyncConfig,
		Status: http.StatusInternalServerError, Description: "No sync config deployed"}
	errMissingToken = &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthMissingToken,
		Status: http.StatusUnauthorized, Description: "Authentication required: send 'Authorization: Token <jwt>'"}
	errInternal = &protocol.Error{Name: protocol.NameServiceError, Code: protocol.CodeValidation,
		Status: http.StatusInternalServerError, Description: "Internal error"}
)

// writeError sends err as the JSON error body. Errors that are not a
// *protocol.Error become a generic 500 without their text.
func writeError(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = errInternal
	}
	status := pe.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(protocol.ErrorBody{Error: pe})
}

// writeData sends {"data": v} as the reference wraps handler results.
func writeData(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Data any `json:"data"`
	}{v})
}

var authHeaderRE = regexp.MustCompile(`^(?:Token|Bearer) (\S+)$`)

// tokenFromRequest extracts the JWT from "Authorization: Token|Bearer <jwt>".
func tokenFromRequest(r *http.Request) (string, error) {
	m := authHeaderRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "", errMissingToken
	}
	return m[1], nil
}
