package trigger

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestWriteAnswer: every answer's body is json.Marshal's with a newline,
// whether it takes the plain path (appendPlain) or not, and its headers
// are the same either way.
func TestWriteAnswer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a     answer
		plain bool
	}{
		{"accepted", answer{Success: true, ExecutionID: "exe_3N8f0WS108IFoqt4XNA8MB7KC5b", Status: "queued"}, true},
		{"coalesced", answer{Success: true, ExecutionID: "exe_x-1", Status: "coalesced"}, true},
		{"no id", answer{Success: false, Status: "error"}, true},
		{"empty status", answer{Success: true, ExecutionID: "exe_1"}, true},
		{"result", answer{Success: true, ExecutionID: "exe_1", Status: "succeeded", Result: json.RawMessage(`{"a":[1,2]}`)}, false},
		{"reason", answer{ExecutionID: "exe_1", Status: "failed", Reason: "exit status 1: <boom> & \"quoted\""}, false},
		{"id to escape", answer{Success: true, ExecutionID: "exe_<1>", Status: "queued"}, false},
		{"status to escape", answer{Success: true, ExecutionID: "exe_1", Status: "qu\"eued"}, false},
		{"non-ASCII", answer{Success: true, ExecutionID: "exé", Status: "queued"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			if _, ok := tc.a.appendPlain(nil); ok != tc.plain {
				t.Errorf("appendPlain ok = %v, want %v", ok, tc.plain)
			}
			rec := httptest.NewRecorder()
			writeAnswer(rec, http.StatusAccepted, tc.a)
			if got := rec.Body.String(); got != string(want) {
				t.Errorf("body %q, want %q", got, want)
			}
			if rec.Code != http.StatusAccepted {
				t.Errorf("status %d", rec.Code)
			}
			h := rec.Header()
			if h.Get("Content-Type") != "application/json" || h.Get("Cache-Control") != "no-store" || h.Get("Content-Length") != strconv.Itoa(len(want)) {
				t.Errorf("headers %v", h)
			}
		})
	}
}
