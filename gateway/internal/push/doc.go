// Package push delivers cash-register statuses to the Petrosoft Monitoring
// Data API (specs/petrosoft-monitoring-data-api.txt, "PUSH integration
// monitoring status": per stationId, Bearer token, body {status, time,
// received_from_cloud, cloud_online}, success only when the answer is HTTP 200
// with status: true and success: true).
//
// It is a driver-layer package of the gateway: Client makes one push; Worker
// drains the durable outbox kept by the store, one push at a time per station
// and in order, retrying failures with exponential backoff, so pushes survive
// restarts and outages of the monitoring API and none is dropped.
package push
