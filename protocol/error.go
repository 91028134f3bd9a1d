package protocol

import "fmt"

// Error is a client-facing service error. It is sent as the JSON body
// {"error": {...}} with HTTP status Status. Description never contains
// internal details such as driver errors or secrets.
type Error struct {
	Name        string `json:"name"`
	Code        string `json:"code"`
	Status      int    `json:"status"`
	Description string `json:"description"`
	Details     string `json:"details,omitempty"`
}

// ErrorBody is the JSON envelope of an Error.
type ErrorBody struct {
	Error *Error `json:"error"`
}

func (e *Error) Error() string {
	if e.Details != "" {
		return fmt.Sprintf("[%s] %s: %s", e.Code, e.Description, e.Details)
	}
	return fmt.Sprintf("[%s] %s", e.Code, e.Description)
}

// Stable error codes (see the reference's service-errors codes).
const (
	CodeValidation              = "PSYNC_S2001" // 400 malformed request, or 500 internal
	CodeNotFound                = "PSYNC_S2002" // 404 route not found
	CodeShuttingDown            = "PSYNC_S2003" // 503 shutting down
	CodeUnsupportedMedia        = "PSYNC_S2004" // 415
	CodeAuthGeneric             = "PSYNC_S2101" // 401 malformed token, missing claim, no key
	CodeAuthSignature           = "PSYNC_S2102" // 401 signature does not verify
	CodeAuthExpired             = "PSYNC_S2103" // 401 token expired
	CodeAuthLifetime            = "PSYNC_S2104" // 401 exp - iat over the maximum
	CodeAuthAudience            = "PSYNC_S2105" // 401 aud missing or not accepted
	CodeAuthMissingToken        = "PSYNC_S2106" // 401 no Token/Bearer header
	CodeNoSyncConfig            = "PSYNC_S2302" // 500 no sync config deployed
	CodeTooManyConnections      = "PSYNC_S2304" // 429
	CodeTooManyBuckets          = "PSYNC_S2305" // bucket or parameter result limit
	NameAuthorizationError      = "AuthorizationError"
	NameValidationError         = "ValidationError"
	NameServiceError            = "ServiceError"
	NameRouteNotFound           = "RouteNotFound"
	NameServiceUnavailable      = "ServiceUnavailable"
	NameTooManyRequests         = "TooManyRequests"
	NameSyncConfigLimitExceeded = "SyncConfigLimitExceeded"
)
