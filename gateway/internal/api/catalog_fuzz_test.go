package api

import (
	"fmt"
	"net/http"
	"testing"
)

var catalogSeeds = []string{
	`{"data":[{"component_id":1,"add":10},{"component_id":4,"layout_number":"A1","add":-2}],"note":"n"}`,
	`{"data":[{"component_id":1,"loaded":10}],"created_at":"2024-05-10 10:00:00+03"}`,
	`{"data":[],"note":null}`, `{"data":[1,"x",null,{"component_id":"1","add":"1"}]}`,
	`{"data":{"component_id":1}}`, `{"data":[{"component_id":1e99,"add":1e99,"loaded":-1}]}`,
	`{"name":"П","mode":"snack","assign":1,"products":[{"id":2,"number":2,"capacity":14,"price":10}]}`,
	`{"name":"Р","composite":true,"components":[{"name":"Вода","volume":100,"unit":2},{"id":1,"volume":3}]}`,
	`{"name":"Л","address":"a","note":"n","unit":1,"vat":"12.5","force":""}`,
	`[]`, `null`, `{`, ``, `{"a":1}{"b":2}`,
}

func FuzzCatalogBodies(f *testing.F) {
	for _, s := range catalogSeeds {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	s := newCatSetupTB(f, e)
	vm := fmt.Sprintf("/v2/vending_machines/%d/", s.vm.ID)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, http.MethodPost, vm+"loading", e.adminTok, body)
		fuzzBody(t, e, http.MethodPost, vm+"inventory", e.adminTok, body)
		fuzzBody(t, e, http.MethodPost, "/v2/planograms", e.adminTok, body)
		fuzzBody(t, e, http.MethodPost, "/v2/products", e.adminTok, body)
		fuzzBody(t, e, http.MethodPut, fmt.Sprintf("/v2/products/%d", s.espresso), e.adminTok, body)
		fuzzBody(t, e, http.MethodPost, fmt.Sprintf("/v2/products/%d/components", s.espresso), e.adminTok, body)
		fuzzBody(t, e, http.MethodPost, "/v2/locations", e.adminTok, body)
		fuzzBody(t, e, http.MethodPost, "/v2/components", e.adminTok, body)
	})
}
