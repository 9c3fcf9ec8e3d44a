package api

// routesReports registers the reports routes.
func (s *server) routesReports() {}
