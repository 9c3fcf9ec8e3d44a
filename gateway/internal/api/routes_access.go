package api

// routesAccess registers the access routes.
func (s *server) routesAccess() {}
