package api

// routesReports registers the reports routes: EVA-DTS audits, the error-code
// reference, vend statistics, cash collections and cloud-register receipts.
func (s *server) routesReports() {
	s.handle("GET /v2/vending_machines/{id}/reports", s.authed(s.handleReportList))
	s.handle("GET /v2/vending_machines/{id}/reports/last", s.authed(s.handleReportLast))
	s.handle("GET /v2/vending_machines/{id}/reports/last_valid", s.authed(s.handleReportLastValid))
	s.handle("GET /v2/vending_machines/{id}/reports/last_errors", s.authed(s.handleReportLastErrors))
	s.handle("GET /v2/vending_machines/{id}/reports/{rid}", s.authed(s.handleReportGet))
	s.handle("GET /v2/reports/errors/{code}", s.authed(s.handleErrorCode))
	s.handle("GET /v2/reports/collections", s.authed(s.handleCollections))

	s.handle("GET /v2/stats/vends/summary", s.authed(s.handleStatsSummary))
	s.handle("GET /v2/stats/vends/payments/summary", s.authed(s.handleStatsPaymentSummary))
	s.handle("GET /v2/vending_machines/{id}/stats/vends/summary", s.authed(s.handleVMStatsSummary))
	s.handle("GET /v2/vending_machines/{id}/stats/vends/products", s.authed(s.handleVMStatsProducts))
	s.handle("GET /v2/vending_machines/{id}/stats/vends/payments", s.authed(s.handleVMStatsPayments))

	s.handle("GET /v2/stats/crt", s.authed(s.handleCRT))
	s.handle("GET /v2/stats/crt/correction", s.authed(s.handleCRTCorrection))
}
