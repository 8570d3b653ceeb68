package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hookd/hookd"
)

func TestEventPublish(t *testing.T) { onBackends(t, testEventPublish) }

func testEventPublish(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wh := e.webhook(e.writer, map[string]any{"events": []string{"order.*"}, "filters": map[string]any{"shop": "a"}})

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		before := e.wakes.Load()
		r := e.do("POST", "/v1/events", e.writer, map[string]any{"type": "order.created", "data": map[string]any{"shop": "a", "n": 1}, "owner_id": "o1"}).want(t, 202)
		if r.Header.Get("Idempotent-Replayed") != "" {
			t.Error("first publication marked as a replay")
		}
		var got struct {
			ID         string   `json:"id"`
			Type       string   `json:"type"`
			Timestamp  string   `json:"timestamp"`
			Deliveries []string `json:"deliveries"`
		}
		r.json(t, &got)
		if !strings.HasPrefix(got.ID, hookd.PrefixEvent) || got.Type != "order.created" || got.Timestamp == "" || len(got.Deliveries) != 1 {
			t.Fatalf("published %s", r.body)
		}
		if e.wakes.Load() <= before {
			t.Error("a publication with deliveries did not wake the engine")
		}
		d := e.do("GET", "/v1/deliveries/"+got.Deliveries[0], e.read, nil).want(t, 200).obj(t)
		if d["webhook_id"] != wh["id"] || d["event_id"] != got.ID || d["status"] != "pending" {
			t.Errorf("delivery %v", d)
		}
		if al, ok := d["attempt_list"].([]any); !ok || len(al) != 0 {
			t.Errorf("attempt_list %v", d["attempt_list"])
		}
		ev := e.do("GET", "/v1/events/"+got.ID, e.read, nil).want(t, 200).obj(t)
		want := map[string]any{"id": got.ID, "type": "order.created", "data": map[string]any{"shop": "a", "n": float64(1)},
			"owner_id": "o1", "timestamp": got.Timestamp, "deliveries": []any{got.Deliveries[0]}, "workspace_id": e.ws.ID}
		if d := cmp.Diff(want, ev); d != "" {
			t.Errorf("event (-want +got):\n%s", d)
		}
	})
	t.Run("NoMatch", func(t *testing.T) {
		t.Parallel()
		r := e.do("POST", "/v1/events", e.writer, map[string]any{"type": "order.created", "data": map[string]any{"shop": "b"}}).want(t, 202)
		if !strings.Contains(string(r.body), `"deliveries":[]`) {
			t.Errorf("deliveries not an empty list: %s", r.body)
		}
	})
	t.Run("DataAbsent", func(t *testing.T) {
		t.Parallel()
		ev := e.do("POST", "/v1/events", e.writer, map[string]any{"type": "x"}).want(t, 202).obj(t)
		got := e.do("GET", "/v1/events/"+ev["id"].(string), e.read, nil).want(t, 200).obj(t)
		if cmp.Diff(map[string]any{}, got["data"]) != "" {
			t.Errorf("data %v, want {}", got["data"])
		}
	})
	e.do("GET", "/v1/events/evt_nope", e.read, nil).wantProblem(t, 404)
}

func TestEventIdempotency(t *testing.T) { onBackends(t, testEventIdempotency) }

func testEventIdempotency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.webhook(e.writer, nil)
	tests := []struct {
		name         string
		body, body2  map[string]any
		hdr, hdr2    string
		sameAsSecond bool
	}{
		{name: "Body", body: map[string]any{"type": "a", "idempotency_key": "k-body"}, body2: map[string]any{"type": "a", "idempotency_key": "k-body"}},
		{name: "Header", body: map[string]any{"type": "a"}, hdr: "k-hdr", body2: map[string]any{"type": "a"}, hdr2: "k-hdr"},
		{name: "HeaderThenBody", body: map[string]any{"type": "a"}, hdr: "k-mix", body2: map[string]any{"type": "a", "idempotency_key": "k-mix"}},
		{name: "BothAgree", body: map[string]any{"type": "a", "idempotency_key": "k-both"}, hdr: "k-both", body2: map[string]any{"type": "a"}, hdr2: "k-both"},
	}
	for _, tt := range tests {
		// Not parallel: each case counts the wakes of the shared env.
		t.Run(tt.name, func(t *testing.T) {
			var h1, h2 []string
			if tt.hdr != "" {
				h1 = []string{"Idempotency-Key", tt.hdr}
			}
			if tt.hdr2 != "" {
				h2 = []string{"Idempotency-Key", tt.hdr2}
			}
			first := e.do("POST", "/v1/events", e.writer, tt.body, h1...).want(t, 202)
			wakes := e.wakes.Load()
			second := e.do("POST", "/v1/events", e.writer, tt.body2, h2...).want(t, 202)
			if first.Header.Get("Idempotent-Replayed") != "" || second.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("Idempotent-Replayed %q then %q", first.Header.Get("Idempotent-Replayed"), second.Header.Get("Idempotent-Replayed"))
			}
			if string(first.body) != string(second.body) {
				t.Errorf("replay %s differs from first %s", second.body, first.body)
			}
			if e.wakes.Load() != wakes {
				t.Error("a replay woke the engine")
			}
		})
	}
	t.Run("Conflict", func(t *testing.T) {
		t.Parallel()
		e.do("POST", "/v1/events", e.writer, map[string]any{"type": "a", "idempotency_key": "one"}, "Idempotency-Key", "two").
			wantProblem(t, http.StatusBadRequest, "idempotency_key")
	})
	t.Run("OtherWorkspace", func(t *testing.T) {
		t.Parallel()
		a := e.do("POST", "/v1/events", e.writer, map[string]any{"type": "a"}, "Idempotency-Key", "shared").want(t, 202).obj(t)
		b := e.do("POST", "/v1/events", e.other, map[string]any{"type": "a"}, "Idempotency-Key", "shared").want(t, 202)
		if b.Header.Get("Idempotent-Replayed") != "" || b.obj(t)["id"] == a["id"] {
			t.Error("an idempotency key crossed workspaces")
		}
	})
}

func TestParseEvent(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 256)
	tests := []struct {
		name   string
		body   string
		header string
		field  string // "" when valid
		want   hookd.PublishParams
	}{
		{name: "Minimal", body: `{"type":"a"}`, want: hookd.PublishParams{Type: "a", Data: json.RawMessage(`{}`)}},
		{name: "Full", body: `{"type":"job.succeeded:v1-x_y","data":{"a":[1]},"owner_id":"o","idempotency_key":"k"}`,
			want: hookd.PublishParams{Type: "job.succeeded:v1-x_y", Data: json.RawMessage(`{"a":[1]}`), OwnerID: "o", IdempotencyKey: "k"}},
		{name: "HeaderKey", body: `{"type":"a"}`, header: "h", want: hookd.PublishParams{Type: "a", Data: json.RawMessage(`{}`), IdempotencyKey: "h"}},
		{name: "TypeMissing", body: `{"data":{}}`, field: "type"},
		{name: "TypeEmpty", body: `{"type":""}`, field: "type"},
		{name: "TypeTooLong", body: `{"type":"` + long + `"}`, field: "type"},
		{name: "TypeSpace", body: `{"type":"a b"}`, field: "type"},
		{name: "TypeSlash", body: `{"type":"a/b"}`, field: "type"},
		{name: "TypeUnicode", body: `{"type":"café"}`, field: "type"},
		{name: "DataArray", body: `{"type":"a","data":[1]}`, field: "data"},
		{name: "DataString", body: `{"type":"a","data":"x"}`, field: "data"},
		{name: "DataNull", body: `{"type":"a","data":null}`, field: "data"},
		{name: "DataNumber", body: `{"type":"a","data":1}`, field: "data"},
		{name: "KeyTooLong", body: `{"type":"a","idempotency_key":"` + long + `"}`, field: "idempotency_key"},
		{name: "KeyControl", body: `{"type":"a","idempotency_key":"a\nb"}`, field: "idempotency_key"},
		{name: "KeysDiffer", body: `{"type":"a","idempotency_key":"x"}`, header: "y", field: "idempotency_key"},
		{name: "OwnerTooLong", body: `{"type":"a","owner_id":"` + long + `"}`, field: "owner_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseEvent([]byte(tt.body), tt.header)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.want, got); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
				return
			}
			var he *hookd.Error
			if !errors.As(err, &he) || he.Code != hookd.EInvalid || len(he.Fields) == 0 || he.Fields[0].Field != tt.field {
				t.Errorf("err %v, want EInvalid on %s", err, tt.field)
			}
		})
	}
}

// FuzzParseEvent: parseEvent never panics, only answers EInvalid, and what
// it accepts has a valid type and a JSON object as data.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{`{"type":"a"}`, `{"type":"a.b","data":{"x":[1,{"y":null}]}}`, `{"type":"a","data":null}`,
		`{"type":"a","idempotency_key":"k"}`, `{"type":"a"} {}`, "{\"type\":\"\xff\"}", `[]`, ``, `{"type":"a","data":{"a":1}`} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "key")
	}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		p, err := parseEvent(body, header)
		if err != nil {
			if hookd.ErrorCode(err) != hookd.EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		if msg := checkEventType(p.Type); msg != "" {
			t.Fatalf("accepted type %q: %s", p.Type, msg)
		}
		var data map[string]any
		if err := json.Unmarshal(p.Data, &data); err != nil || data == nil {
			t.Fatalf("accepted data %q: %v", p.Data, err)
		}
		if header != "" && p.IdempotencyKey != header {
			t.Fatalf("idempotency key %q, header %q", p.IdempotencyKey, header)
		}
	})
}
