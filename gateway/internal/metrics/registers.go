package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterSources are the register poller's live values read at scrape time.
type RegisterSources struct {
	Statuses    func() map[int]int // registers by Petrosoft status (-1: not derived yet)
	OutboxDepth func() int         // pushes waiting for the monitoring API
}

// RegisterMetrics are the collectors of the cash-register poller and pusher.
type RegisterMetrics struct {
	polls   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	pushes  *prometheus.CounterVec
}

// RegisterRegisters registers the cash-register collectors on m's registry
// and returns them; call it once per Metrics.
//
//	vendgate_register_polls_total{endpoint,outcome}       requests to registers
//	vendgate_register_poll_seconds{endpoint}              their latency
//	vendgate_registers{status}                            registers by status
//	vendgate_register_pushes_total{outcome}               pushes: delivered, rejected, unreachable
//	vendgate_register_outbox_depth                        pushes waiting
func (m *Metrics) RegisterRegisters(src RegisterSources) (*RegisterMetrics, error) {
	r := &RegisterMetrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendgate_register_polls_total",
			Help: "Requests to cash registers by endpoint and outcome (ok, conn, auth, bad, other).",
		}, []string{"endpoint", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vendgate_register_poll_seconds",
			Help:    "Latency of requests to cash registers.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"endpoint"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vendgate_register_pushes_total",
			Help: "Pushes to the monitoring API by outcome (delivered, rejected, unreachable).",
		}, []string{"outcome"}),
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vendgate_register_outbox_depth",
		Help: "Pushes waiting in the durable outbox.",
	}, func() float64 { return float64(call(src.OutboxDepth)) })
	for _, c := range []prometheus.Collector{r.polls, r.latency, r.pushes, depth, statusCollector{src.Statuses}} {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Poll counts one request to a register.
func (r *RegisterMetrics) Poll(endpoint, outcome string, latency time.Duration) {
	r.polls.WithLabelValues(endpoint, outcome).Inc()
	r.latency.WithLabelValues(endpoint).Observe(latency.Seconds())
}

// Push counts one push attempt.
func (r *RegisterMetrics) Push(outcome string) { r.pushes.WithLabelValues(outcome).Inc() }

var statusDesc = prometheus.NewDesc("vendgate_registers", "Cash registers by Petrosoft status (0 online, 2 no connection, 3 bad answers, 5 login refused, 6 unknown error, -1 not polled yet).", []string{"status"}, nil)

// statusCollector reports the registers by status at scrape time.
type statusCollector struct{ f func() map[int]int }

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- statusDesc }

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	if c.f == nil {
		return
	}
	counts := c.f()
	for _, s := range []int{-1, 0, 2, 3, 5, 6} {
		ch <- prometheus.MustNewConstMetric(statusDesc, prometheus.GaugeValue, float64(counts[s]), strconv.Itoa(s))
	}
}
