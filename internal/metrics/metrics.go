// Package metrics owns hookd's Prometheus collectors: one registry per
// process, built by New and passed to the engines and the API.
package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hookd/hookd"
)

// Metrics holds every collector hookd exports.
type Metrics struct {
	Registry *prometheus.Registry

	// DeliveryOutcomes counts finished attempts by the outcome they led to
	// (delivered, retry, failed, dead).
	DeliveryOutcomes *prometheus.CounterVec
	// AttemptDuration observes each attempt's duration in seconds.
	AttemptDuration prometheus.Histogram
	// EventsPublished counts accepted events.
	EventsPublished prometheus.Counter
	// InboundCalls counts trigger calls by disposition.
	InboundCalls *prometheus.CounterVec
	// Executions counts finished executions by status.
	Executions *prometheus.CounterVec
	// ClusterNodes is the number of live nodes this node takes its share
	// of each webhook's cap for: 1 alone (SQLite), 0 while a node of a
	// cluster may take no work (joining, or cut off from the database).
	ClusterNodes prometheus.Gauge
}

// New registers every collector (plus Go and process collectors) on a fresh
// registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		DeliveryOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_delivery_attempts_total",
			Help: "Delivery attempts by the outcome they led to (delivered, retry, failed, dead).",
		}, []string{"outcome"}),
		AttemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookd_delivery_attempt_duration_seconds",
			Help:    "Duration of outbound delivery attempts.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}),
		EventsPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookd_events_published_total",
			Help: "Events accepted for fan-out.",
		}),
		InboundCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_inbound_calls_total",
			Help: "Inbound trigger calls by disposition.",
		}, []string{"disposition"}),
		Executions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookd_executions_total",
			Help: "Finished job executions by status.",
		}, []string{"status"}),
		ClusterNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookd_cluster_nodes",
			Help: "Live nodes this node takes its share of each webhook's concurrency cap for (0: it takes no work).",
		}),
	}
	m.Registry.MustRegister(m.DeliveryOutcomes, m.AttemptDuration, m.EventsPublished, m.InboundCalls, m.Executions, m.ClusterNodes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RegisterQueue exports the delivery queue's depth and the age of its oldest
// due pending delivery, read from the store at most once per maxAge (counting
// a million rows is not free, and scrapes may come often).
func (m *Metrics) RegisterQueue(store hookd.Store, now func() time.Time, maxAge time.Duration) {
	m.Registry.MustRegister(&queueCollector{store: store, now: now, maxAge: maxAge})
}

var (
	descDepth = prometheus.NewDesc("hookd_delivery_queue_depth", "Deliveries by queue state (pending, processing).", []string{"state"}, nil)
	descAge   = prometheus.NewDesc("hookd_delivery_queue_oldest_age_seconds", "How long the oldest due pending delivery has waited.", nil, nil)
	descDeliv = prometheus.NewDesc("hookd_deliveries", "Alias of queue depth for dashboards: deliveries not yet finished by status.", []string{"status"}, nil)
)

type queueCollector struct {
	store  hookd.Store
	now    func() time.Time
	maxAge time.Duration

	mu      sync.Mutex
	at      time.Time
	stats   hookd.QueueStats
	lastErr error
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDepth
	ch <- descAge
	ch <- descDeliv
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.at.IsZero() || now.Sub(c.at) >= c.maxAge {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.store.QueueStats(ctx)
		cancel()
		c.lastErr = err
		if err == nil {
			c.stats, c.at = st, now
		}
	}
	st := c.stats
	ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(st.Pending), "pending")
	ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(st.Processing), "processing")
	ch <- prometheus.MustNewConstMetric(descDeliv, prometheus.GaugeValue, float64(st.Pending), hookd.DeliveryPending)
	ch <- prometheus.MustNewConstMetric(descDeliv, prometheus.GaugeValue, float64(st.Processing), hookd.DeliveryProcessing)
	age := 0.0
	if st.OldestDueAt != nil && now.After(*st.OldestDueAt) {
		age = now.Sub(*st.OldestDueAt).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, age)
}
