// Package poller polls the status API of UKM5 cash registers
// (specs/ukm5-register-status-api.txt): for every register the seven
// endpoints api/v1/status/{last_receipt_time,downtime,user_role_id,ofd,paper,
// vision,weight}, never more than one request per second to one register
// (the spec's "Примечание": «Частота опроса состояний кассы не должна
// превышать 1 запроса в секунду»), through a bounded pool of workers so that a
// slow or dead register never holds up the others.
//
// It is a driver-layer package of the gateway: interpret.go holds the pure
// part (what an answer means, the Petrosoft status code and the alerts derived
// from the answers, specs/petrosoft-monitoring-data-api.txt "status"), and
// poller.go the scheduler. It is the only importer of golang.org/x/time/rate.
package poller
