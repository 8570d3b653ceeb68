package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/seal"
)

// BenchmarkRowCostAccept is the floor under BenchmarkWriterCostAccept: the
// rows that one accepted call to an event job leaves (its call, its
// execution with the 1 KiB input, the job's event carrying that input and
// the job.succeeded outcome) written on the store's schema with nothing
// else — no reads, no checks, 20 calls per transaction in one multi-row
// INSERT per table, synchronous=NORMAL (no fsync). The variants take rows
// away to show what each costs. docs/BENCHMARKS.md quotes it: the accept
// path's writer costs little more than its rows do.
func BenchmarkRowCostAccept(b *testing.B) {
	for _, v := range []struct {
		name            string
		tables          int  // calls; + executions; + events
		smallInput      bool // the execution's input is {} (and the events carry no copy)
		eventRefInstead bool // the event carries a reference, not a copy of the input
		noCall          bool // no call row (the accepted call is its execution)
	}{
		{"call+execution+event+outcome", 3, false, false, false},
		{"event_without_input_copy", 3, false, true, false},
		{"execution+event_ref+outcome", 3, false, true, true},
		{"execution+event+outcome", 3, false, false, true},
		{"call+execution", 2, false, false, false},
		{"call+execution_small_input", 2, true, false, false},
		{"call", 1, false, false, false},
	} {
		b.Run(v.name, func(b *testing.B) {
			const perTx = 20
			path := filepath.Join(b.TempDir(), "hookd.db")
			sl, err := seal.New(make([]byte, seal.KeySize))
			if err != nil {
				b.Fatal(err)
			}
			s, err := Open(context.Background(), path, Options{Synchronous: "NORMAL", Sealer: sl})
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-32000)")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			values := func(rows, cols int) string {
				one := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
				return strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
			}
			stmts := []string{
				`INSERT INTO calls (` + callCols + `) VALUES ` + values(perTx, 10),
				`INSERT INTO executions (` + executionCols + `) VALUES ` + values(perTx, 15),
				`INSERT INTO events (` + eventRowCols + `) VALUES ` + values(2*perTx, 8),
			}[:v.tables]
			input := `{"d":"` + strings.Repeat("a", 1000) + `"}`
			if v.smallInput {
				input = `{}`
			}
			seq := 0
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i += perTx {
				args := make([][]any, 3)
				now := time.Now().UnixMicro()
				for range perTx {
					seq++
					call, exe := fmt.Sprintf("cal_%020d", seq), fmt.Sprintf("exe_%020d", seq)
					evt, out := fmt.Sprintf("evt_%020d", 2*seq), fmt.Sprintf("evt_%020d", 2*seq+1)
					data := input
					if v.eventRefInstead {
						data = `{"execution_id":"` + exe + `"}`
					}
					args[0] = append(args[0], call, "ws_bench", "trg_bench", "accepted", exe, "127.0.0.1", "POST", 202, "", now)
					args[1] = append(args[1], exe, "ws_bench", "job_bench", "trg_bench", "webhook", "succeeded", input,
						`{"event_id":"`+evt+`","deliveries":[]}`, "", now, now, nil, now, now, 0)
					args[2] = append(args[2], evt, "ws_bench", "bench.inbound", data, "", "", now, "[]",
						out, "ws_bench", "job.succeeded", `{"execution_id":"`+exe+`"}`, "", "", now, "[]")
				}
				if v.noCall {
					args[0] = nil
				}
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				for k, q := range stmts {
					if args[k] == nil {
						continue
					}
					if _, err := tx.Exec(q, args[k]...); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/call")
		})
	}
}
