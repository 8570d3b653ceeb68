package delivery

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	sched := []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}
	tests := []struct {
		name string
		n    int
		r    float64
		want time.Duration
	}{
		{"FirstNoJitter", 1, 0.5, 5 * time.Second},
		{"SecondNoJitter", 2, 0.5, 5 * time.Minute},
		{"PastEndRepeatsLast", 7, 0.5, 30 * time.Minute},
		{"LowestJitter", 1, 0, 4 * time.Second},
		{"HighestJitter", 1, 0.999999, 5999994 * time.Microsecond},
		{"ZeroTreatedAsFirst", 0, 0.5, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RetryDelay(sched, tt.n, 0.2, tt.r)
			if d := got - tt.want; d > time.Millisecond || d < -time.Millisecond {
				t.Fatalf("RetryDelay(n=%d, r=%v) = %v, want %v", tt.n, tt.r, got, tt.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"junk", 0},
		{"999999", MaxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(5 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBody(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 23, 10, 0, 0, 123000000, time.UTC)
	b := Body(`job."done"`, ts, json.RawMessage(`{"a":1}`))
	var got struct {
		Event     string         `json:"event"`
		Timestamp time.Time      `json:"timestamp"`
		Data      map[string]int `json:"data"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	if got.Event != `job."done"` || !got.Timestamp.Equal(ts) || got.Data["a"] != 1 {
		t.Fatalf("body = %s", b)
	}
	if string(Body("x", ts, nil)) != `{"event":"x","timestamp":"2026-11-23T10:00:00.123Z","data":{}}` {
		t.Fatalf("empty data body = %s", Body("x", ts, nil))
	}
}
