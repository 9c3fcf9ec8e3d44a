package api

// routesAccess registers the access routes: requisites (spec "Реквизиты") and,
// as extensions, their management and the machine groups that limit what
// operators see; plus the OpenAPI document of the whole API.
func (s *server) routesAccess() {
	s.handle("GET /openapi.json", s.handleOpenAPI)

	s.handle("GET /v2/requisites", s.authed(s.handleRequisiteList))
	s.handle("POST /v2/requisites", s.authed(s.handleRequisiteCreate))
	s.handle("PUT /v2/requisites/{id}", s.authed(s.handleRequisiteUpdate))
	s.handle("DELETE /v2/requisites/{id}", s.authed(s.handleRequisiteDelete))

	s.handle("GET /v2/groups", s.authed(s.handleGroupList))
	s.handle("POST /v2/groups", s.authed(s.handleGroupCreate))
	s.handle("GET /v2/groups/{id}", s.authed(s.handleGroupGet))
	s.handle("PUT /v2/groups/{id}", s.authed(s.handleGroupUpdate))
	s.handle("DELETE /v2/groups/{id}", s.authed(s.handleGroupDelete))
}
