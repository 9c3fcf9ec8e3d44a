// Package api is vendgate's REST API: the first part of the Telemetron API v2
// surface (/work/shared/specs/telemetron-api-v2.txt) that operators' apps use.
//
// It is the HTTP driver layer of the gateway: it authenticates callers with the
// spec's OAuth2 password and refresh_token grants (section "Authorization"),
// reads and writes through store.Store, and turns operator actions (reset,
// request, dispense, vendista-credit, modem set) into modem commands through a
// Commander. It uses only the standard library's net/http (ServeMux method
// patterns) and vendgate packages.
//
// Conventions, all from the spec:
//   - Parameters of POST/PUT come in a JSON body or the query string
//     ("Parameters"); unknown fields are ignored, wrong types are a 422.
//   - Every error is a 4xx/5xx with {"message", "subcode"?, "errors"?}
//     ("Errors"); validation errors are Laravel-style 422s keyed by field.
//   - Times are ISO-8601 with an offset, UTC by default and in the machine's
//     zone with local=1 ("Time stamps").
//
// Extensions beyond the spec are marked as such: modem provisioning (POST
// /v2/modems), command ids in action responses, /v2/commands, the
// Idempotency-Key header, /healthz, /readyz and /metrics.
package api
