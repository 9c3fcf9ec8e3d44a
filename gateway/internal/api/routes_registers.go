package api

// routesRegisters registers the cash-register routes (UKM5 registers polled
// by the gateway, docs/registers.md).
func (s *server) routesRegisters() {
	s.handle("GET /v2/registers", s.authed(s.handleRegisterList))
	s.handle("POST /v2/registers", s.authed(s.handleRegisterCreate))
	s.handle("GET /v2/registers/{id}", s.authed(s.handleRegisterGet))
	s.handle("PUT /v2/registers/{id}", s.authed(s.handleRegisterUpdate))
	s.handle("DELETE /v2/registers/{id}", s.authed(s.handleRegisterDelete))
	s.handle("GET /v2/registers/{id}/status", s.authed(s.handleRegisterStatus))
}
