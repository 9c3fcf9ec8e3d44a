// Package ukm5 emulates UKM5 cash registers' status API
// (specs/ukm5-register-status-api.txt): the seven endpoints
// api/v1/status/{last_receipt_time,downtime,user_role_id,ofd,paper,vision,weight}
// with their 200/204 answers, for many registers in one process. Each register
// has its own state that changes over time (receipts opened and closed, paper
// running out, OFD backlog, Vision link), faults on demand (down, slow, 500,
// 401, malformed body, hang-up), and counts the requests it receives with
// their arrival times so tests can check the spec's one-request-per-second
// limit.
//
// Registers are reached in three ways: one listener per register (ListenEach,
// "down" refuses connections), one shared listener routing by path prefix
// /r/{n}/ (Handler, "down" never answers), or in memory (Transport, for
// benchmarks and tests under testing/synctest). Control serves a small REST
// control surface for tools and scripts.
package ukm5
