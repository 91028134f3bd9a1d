package syncrules

import (
	"errors"
	"fmt"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// requestContext is one connection's request data in the forms the
// compiled queries read (§4.5).
type requestContext struct {
	// userID is the token's sub: TEXT for a string, REAL for a number (as
	// the reference's JavaScript reads it), 1/0 for a boolean, JSON text
	// for an object or array, NULL when missing.
	userID sqlvalue.Value
	// jwtRaw is the token payload re-serialized the way the reference
	// does: numbers are JavaScript numbers, so integers read back as REAL
	// (123 → 123.0).
	jwtRaw string
	// claimsRaw is the token payload as received (auth.parameters() in
	// streams).
	claimsRaw string
	// tokenParams are the values of token_parameters.*: the payload's
	// "parameters" object plus user_id.
	tokenParams map[string]sqlvalue.Value
	// paramsRaw is the client (connection) parameters object as JSON text
	// ("{}" when none).
	paramsRaw  string
	userParams map[string]sqlvalue.Value
	// subRaw is the current subscription's parameters (alpha streams);
	// subDefault marks the implicit default subscription.
	subRaw     string
	subDefault bool
}

// newRequestContext converts a Request.
func newRequestContext(req Request) (*requestContext, error) {
	rc := &requestContext{jwtRaw: "{}", claimsRaw: "{}", paramsRaw: "{}", tokenParams: map[string]sqlvalue.Value{}, userParams: map[string]sqlvalue.Value{}}
	var claims jsonValue
	if len(req.Claims) > 0 {
		var err error
		if claims, err = parseJSON(string(req.Claims)); err != nil {
			return nil, fmt.Errorf("token claims: %w", err)
		}
		if claims.kind != jsonObject {
			return nil, errors.New("token claims: not a JSON object")
		}
		rc.claimsRaw = string(claims.appendJSON(nil))
		rc.jwtRaw = string(jsNumbers(claims).appendJSON(nil))
	}
	rc.userID = sqlvalue.Null
	if sub, ok := claims.get("sub"); ok && claims.kind == jsonObject {
		rc.userID = jsNumbers(sub).toValue()
	} else if req.UserID != "" {
		rc.userID = sqlvalue.Text(req.UserID)
	}
	if p, ok := claims.get("parameters"); ok && p.kind == jsonObject {
		for i, k := range p.keys {
			rc.tokenParams[k] = autoBigValue(p.arr[i])
		}
	}
	rc.tokenParams["user_id"] = rc.userID
	if len(req.Parameters) > 0 {
		params, err := parseJSON(string(req.Parameters))
		if err != nil {
			return nil, fmt.Errorf("client parameters: %w", err)
		}
		switch params.kind {
		case jsonNull:
		case jsonObject:
			rc.paramsRaw = string(params.appendJSON(nil))
			for i, k := range params.keys {
				rc.userParams[k] = autoBigValue(params.arr[i])
			}
		default:
			return nil, errors.New("client parameters: not a JSON object")
		}
	}
	return rc, nil
}

// jsNumbers turns every integer of a JSON tree into a REAL, as JavaScript's
// JSON.parse reads numbers.
func jsNumbers(j jsonValue) jsonValue {
	switch j.kind {
	case jsonInt:
		return jsonValue{kind: jsonReal, f: float64(j.i)}
	case jsonArray, jsonObject:
		out := j
		out.arr = make([]jsonValue, len(j.arr))
		for i, e := range j.arr {
			out.arr[i] = jsNumbers(e)
		}
		return out
	}
	return j
}

// autoBigValue converts a request value with the reference's "autoBigNum"
// rule: integer-valued numbers become INTEGER, booleans 1/0, objects and
// arrays their JSON text (with JavaScript numbers).
func autoBigValue(j jsonValue) sqlvalue.Value {
	switch j.kind {
	case jsonReal:
		return sqlvalue.NormalizeParameter(sqlvalue.Real(j.f))
	case jsonArray, jsonObject:
		return sqlvalue.Text(string(jsNumbers(j).appendJSON(nil)))
	}
	return j.toValue()
}
