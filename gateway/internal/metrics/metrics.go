// Package metrics owns vendgate's Prometheus collectors. It is the only package
// that imports the Prometheus client; the rest of the gateway calls the small
// methods here.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the gateway's collectors on their own registry.
type Metrics struct {
	reg *prometheus.Registry

	messages     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	ingestLat    prometheus.Histogram
	batchSize    prometheus.Histogram
	commands     *prometheus.CounterVec
	cmdRTT       prometheus.Histogram
	httpErrors   *prometheus.CounterVec
	connects     *prometheus.CounterVec
	queueDepth   prometheus.GaugeFunc
	connected    prometheus.GaugeFunc
	commandsLive *prometheus.GaugeVec
}

// Sources are live values read at scrape time.
type Sources struct {
	Connected  func() int // modems connected to the broker
	QueueDepth func() int // uplinks waiting for the store
	// Checkpoints are the store's WAL checkpoint counters since start; nil:
	// none are exported.
	Checkpoints func() Checkpoints
}

// Checkpoints are the store's WAL checkpoint counters.
type Checkpoints struct {
	Passive, Restart, Truncate int64 // finished, by mode
	Busy, Failed               int64 // kept from finishing by a reader or the writer; failed with an error
	WriterHeld                 time.Duration
}

// New registers every collector on a fresh registry.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.messages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendgate_messages_total",
		Help: "Uplink messages from modems by class and outcome (stored, duplicate, rejected, error).",
	}, []string{"class", "outcome"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendgate_messages_rejected_total",
		Help: "Malformed or refused uplink messages by class and reason.",
	}, []string{"class", "reason"})
	m.ingestLat = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vendgate_ingest_latency_seconds",
		Help:    "Time from an uplink's arrival to its commit in the store (the PUBACK follows).",
		Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
	})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vendgate_ingest_batch_size",
		Help:    "Uplinks written per store transaction.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11),
	})
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendgate_commands_total",
		Help: "Command state transitions by the state entered.",
	}, []string{"state"})
	m.commandsLive = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vendgate_commands_in_flight",
		Help: "Commands sent to modems and not yet finished.",
	}, []string{})
	m.cmdRTT = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "vendgate_command_roundtrip_seconds",
		Help:    "Time from a command's creation to its terminal result from the modem.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
	})
	m.httpErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendgate_http_errors_total",
		Help: "REST error responses by route and status.",
	}, []string{"route", "status", "subcode"})
	m.connects = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vendgate_modem_connections_total",
		Help: "Modem connection events: connected, disconnected, taken_over, refused.",
	}, []string{"event"})
	m.connected = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vendgate_modems_connected",
		Help: "Modems connected to the embedded broker now.",
	}, func() float64 { return float64(call(src.Connected)) })
	m.queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vendgate_ingest_queue_depth",
		Help: "Uplinks waiting to be written.",
	}, func() float64 { return float64(call(src.QueueDepth)) })
	m.reg.MustRegister(m.messages, m.rejected, m.ingestLat, m.batchSize, m.commands, m.commandsLive,
		m.cmdRTT, m.httpErrors, m.connects, m.connected, m.queueDepth)
	if src.Checkpoints != nil {
		m.reg.MustRegister(checkpointCollectors(src.Checkpoints)...)
	}
	return m
}

// checkpointCollectors export the store's checkpoint counters.
func checkpointCollectors(read func() Checkpoints) []prometheus.Collector {
	var cs []prometheus.Collector
	for mode, get := range map[string]func(Checkpoints) int64{
		"passive":  func(c Checkpoints) int64 { return c.Passive },
		"restart":  func(c Checkpoints) int64 { return c.Restart },
		"truncate": func(c Checkpoints) int64 { return c.Truncate },
	} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "vendgate_store_checkpoints_total",
			Help:        "WAL checkpoints of the SQLite store that finished, by mode.",
			ConstLabels: prometheus.Labels{"mode": mode},
		}, func() float64 { return float64(get(read())) }))
	}
	return append(cs,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vendgate_store_checkpoints_busy_total",
			Help: "WAL restarts and truncations of the SQLite store that a reader or the writer kept from finishing (retried).",
		}, func() float64 { return float64(read().Busy) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vendgate_store_checkpoints_failed_total",
			Help: "WAL checkpoints of the SQLite store that failed with an error.",
		}, func() float64 { return float64(read().Failed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "vendgate_store_writer_held_seconds_total",
			Help: "Time the SQLite store's writer waited for WAL restarts.",
		}, func() float64 { return read().WriterHeld.Seconds() }),
	)
}

func call(f func() int) int {
	if f == nil {
		return 0
	}
	return f()
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Message counts one uplink of class with its outcome.
func (m *Metrics) Message(class, outcome string) { m.messages.WithLabelValues(class, outcome).Inc() }

// Rejected counts one refused uplink with the reason.
func (m *Metrics) Rejected(class, reason string) {
	m.messages.WithLabelValues(class, "rejected").Inc()
	m.rejected.WithLabelValues(class, reason).Inc()
}

// Ingested records a committed batch and the latency of each of its uplinks.
func (m *Metrics) Ingested(n int, latencies []time.Duration) {
	m.batchSize.Observe(float64(n))
	for _, d := range latencies {
		m.ingestLat.Observe(d.Seconds())
	}
}

// Command counts a command entering state.
func (m *Metrics) Command(state string) { m.commands.WithLabelValues(state).Inc() }

// InFlight sets the number of commands in flight.
func (m *Metrics) InFlight(n int) { m.commandsLive.WithLabelValues().Set(float64(n)) }

// CommandRoundTrip records a finished command's round trip.
func (m *Metrics) CommandRoundTrip(d time.Duration) { m.cmdRTT.Observe(d.Seconds()) }

// HTTPError counts a REST error response.
func (m *Metrics) HTTPError(route string, status int, subcode string) {
	m.httpErrors.WithLabelValues(route, strconv.Itoa(status), subcode).Inc()
}

// Connection counts a connection event.
func (m *Metrics) Connection(event string) { m.connects.WithLabelValues(event).Inc() }
