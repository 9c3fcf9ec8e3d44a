package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc is the OpenAPI 3.1 description of every route of this package,
// kept in the repository next to the code. TestOpenAPICoversRoutes fails when a
// route registered with s.handle is missing from it, or it documents a route
// that does not exist.
//
//go:embed openapi.json
var openAPIDoc []byte

// handleOpenAPI is GET /openapi.json (no auth): the document as stored.
func (s *server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
	return nil
}
