package api

// routesCatalog registers the catalog routes: reference lists, the catalogue
// (planograms, products and recipes, components, locations) and machine
// loading (spec "Справочник ...", "Планограммы", "Продукты", "Компоненты",
// "Места установки", "Текущая загрузка ТА", "Инвентаризация").
func (s *server) routesCatalog() {
	s.handle("GET /v2/event_codes", s.authed(s.handleEventCodes))
	s.handle("GET /v2/vm_models", s.authed(s.handleVMModels))
	s.handle("GET /v2/timezones", s.authed(s.handleTimezones))

	s.handle("GET /v2/components", s.authed(s.handleComponentList))
	s.handle("POST /v2/components", s.authed(s.handleComponentCreate))

	s.handle("GET /v2/locations", s.authed(s.handleLocationList))
	s.handle("POST /v2/locations", s.authed(s.handleLocationCreate))
	s.handle("PUT /v2/locations/{id}", s.authed(s.handleLocationUpdate))
	s.handle("DELETE /v2/locations/{id}", s.authed(s.handleLocationDelete))

	s.handle("GET /v2/products", s.authed(s.handleProductList))
	s.handle("POST /v2/products", s.authed(s.handleProductCreate))
	s.handle("PUT /v2/products/{id}", s.authed(s.handleProductUpdate))
	s.handle("DELETE /v2/products/{id}", s.authed(s.handleProductDelete))
	s.handle("GET /v2/products/{id}/components", s.authed(s.handleRecipeList))
	s.handle("POST /v2/products/{id}/components", s.authed(s.handleRecipeAdd))
	s.handle("PUT /v2/products/{id}/components/{component_id}", s.authed(s.handleRecipeSet))
	s.handle("DELETE /v2/products/{id}/components/{component_id}", s.authed(s.handleRecipeDelete))

	s.handle("GET /v2/planograms", s.authed(s.handlePlanogramList))
	s.handle("POST /v2/planograms", s.authed(s.handlePlanogramCreate))
	s.handle("GET /v2/planograms/{id}", s.authed(s.handlePlanogramGet))
	s.handle("DELETE /v2/planograms/{id}", s.authed(s.handlePlanogramDelete))

	s.handle("GET /v2/vending_machines/{id}/loading", s.authed(s.handleLoadingGet))
	s.handle("POST /v2/vending_machines/{id}/loading", s.authed(s.handleLoadingPost))
	s.handle("POST /v2/vending_machines/{id}/inventory", s.authed(s.handleInventory))
	s.handle("GET /v2/vending_machines/{id}/loading_tx", s.authed(s.handleLoadingTx))
}
