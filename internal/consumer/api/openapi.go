package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of every endpoint New routes; TestOpenAPICoversRoutes keeps the two
// in step.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}

// route registers h for pattern ("METHOD /path") and remembers the pattern for Routes.
func (s *Server) route(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// Routes returns the "METHOD /path" patterns the server routes, in registration order.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }
