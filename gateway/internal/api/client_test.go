package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tok, err := Login(ctx, e.srv.URL, "admin@example.com", testPassword)
	require.NoError(t, err)

	var me struct {
		Email string `json:"email"`
	}
	require.NoError(t, GetJSON(ctx, e.srv.URL, tok, "/v2/me", &me))
	require.Equal(t, "admin@example.com", me.Email)

	var created struct {
		Res      bool `json:"res"`
		Resource struct {
			ID int64 `json:"id"`
		} `json:"resource"`
	}
	require.NoError(t, PostJSON(ctx, e.srv.URL+"/", tok, "/v2/vending_machines", map[string]any{"name": "E2E"}, &created))
	require.True(t, created.Res)
	require.NotZero(t, created.Resource.ID)
	require.NoError(t, GetJSON(ctx, e.srv.URL, tok, fmt.Sprintf("/v2/vending_machines/%d", created.Resource.ID), nil))

	err = PostJSON(ctx, e.srv.URL, tok, "/v2/vending_machines", map[string]any{}, nil)
	var he *HTTPError
	require.True(t, errors.As(err, &he), "%v", err)
	require.Equal(t, http.StatusUnprocessableEntity, he.Status)
	require.Equal(t, SubInvalid, he.Subcode)
	require.Contains(t, he.Errors, "name")

	_, err = Login(ctx, e.srv.URL, "admin@example.com", "wrong")
	require.True(t, errors.As(err, &he))
	require.Equal(t, SubInvalidGrant, he.Subcode)
	require.Contains(t, err.Error(), "400")
}
