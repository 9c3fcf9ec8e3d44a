package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"vendgate/gateway/internal/store"
)

func FuzzGroupBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"Север","vm_ids":[1],"user_ids":[1,3]}`, `{"name":"x","vm_ids":null,"user_ids":"1,2"}`,
		`{"vm_ids":[1,-2,"3","x",{},[],1e400,9223372036854775808]}`, `{"name":["a"],"user_ids":{"0":1}}`,
		`{"name":"\u0000 ","vm_ids":[]}`, `[]`, `null`, `{`, ``, `{"name":"a"}{"name":"b"}`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	e.machine("vm", store.DefaultCompanyID, 0, "")
	g := store.Group{CompanyID: store.DefaultCompanyID, Name: "fixed"}
	require.NoError(f, e.st.CreateGroup(context.Background(), &g))
	path := fmt.Sprintf("/v2/groups/%d", g.ID)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, http.MethodPost, "/v2/groups", e.adminTok, body)
		fuzzBody(t, e, http.MethodPut, path, e.adminTok, body)
	})
}

func FuzzRequisiteBody(f *testing.F) {
	for _, s := range []string{
		`{"title":"ООО","inn":"7701234567","kpp":"7701AB001","provider":"od"}`, `{"title":null,"provider":null}`,
		`{"title":"x","inn":12,"kpp":["a"],"provider":"acme"}`, `{"title":"` + longName + `"}`,
		`[]`, `null`, `{`, ``, `"x"`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	q := store.Requisite{CompanyID: store.DefaultCompanyID, Title: "fixed"}
	require.NoError(f, e.st.CreateRequisite(context.Background(), &q))
	path := fmt.Sprintf("/v2/requisites/%d", q.ID)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, http.MethodPost, "/v2/requisites", e.adminTok, body)
		fuzzBody(t, e, http.MethodPut, path, e.adminTok, body)
	})
}

// FuzzParseLoose: the conformance test's reader of the spec's bodies never
// panics, and what it reads from valid JSON is what encoding/json reads.
func FuzzParseLoose(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `{ "res" => true }`, `[{a: 'x',},]`, `{"k : 1"}`, `<x>`, `/*`, `"\u12`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseLoose(s)
		var std any
		// encoding/json turns invalid UTF-8 into U+FFFD; the spec is valid UTF-8.
		if jerr := decodeNumber(s, &std); jerr == nil && err == nil && utf8.ValidString(s) {
			require.Equal(t, std, v)
		}
	})
}
