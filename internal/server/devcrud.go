package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// CRUDEntry is one client write of an upload batch, in the shape the
// official SDKs' CrudEntry serialises to.
type CRUDEntry struct {
	// Op is PUT (insert or replace), PATCH (update some columns) or DELETE.
	Op string `json:"op"`
	// Type is the table name.
	Type string `json:"type"`
	// ID is the row id.
	ID string `json:"id"`
	// Data holds the columns of a PUT or PATCH.
	Data map[string]any `json:"data,omitempty"`
}

// DevCRUDFunc applies an upload batch of user to the source database.
type DevCRUDFunc func(ctx context.Context, user Identity, batch []CRUDEntry) error

// handleDevCRUD serves POST /api/dev/crud: {"batch":[CRUDEntry...]}.
// It exists only in dev mode, so that writes made on a client round-trip
// through the source database without an application backend.
func (s *Server) handleDevCRUD(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Batch []CRUDEntry `json:"batch"`
	}
	// Numbers stay json.Number so integers reach the database as integers.
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<20))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		writeError(w, validationError("%s", describeJSONError(nil, err)))
		return
	}
	for i, e := range body.Batch {
		e.Op = strings.ToUpper(e.Op)
		body.Batch[i].Op = e.Op
		switch {
		case e.Op != "PUT" && e.Op != "PATCH" && e.Op != "DELETE":
			writeError(w, validationError("batch[%d].op must be PUT, PATCH or DELETE, got %q", i, e.Op))
			return
		case e.Type == "":
			writeError(w, validationError("batch[%d].type must name a table", i))
			return
		case e.ID == "":
			writeError(w, validationError("batch[%d].id must not be empty", i))
			return
		}
	}
	id, err := s.authenticate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.opts.DevCRUD(r.Context(), id, body.Batch); err != nil {
		s.log.Warn("dev crud", "user_id", id.UserID, "error", err)
		writeError(w, validationError("%v", err))
		return
	}
	writeData(w, map[string]int{"applied": len(body.Batch)})
}
