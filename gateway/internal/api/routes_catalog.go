package api

// routesCatalog registers the catalog routes.
func (s *server) routesCatalog() {}
