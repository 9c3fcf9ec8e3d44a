package api

// routesRegisters registers the registers routes.
func (s *server) routesRegisters() {}
