// Command floor is the least a durable accept can do, for benchmarks: it
// answers each POST 202 only once the body is on disk, as hookd answers an
// accepted trigger call, with nothing else of hookd (no routing, token,
// rate limit, input mapping, run or events). Concurrent calls share one
// write and one fsync (group commit), as in hookd's store. Run it under
// ../shared/bench's scripts/inbound.sh (scripts/bench.sh floor) to see what
// this machine allows a durable accept at all, beside the loopback ceiling:
//
//	floor -listen 127.0.0.1:18190 -dir /tmp/floor -store file
//
// -store file appends each group's bodies to one file and fsyncs it;
// -store sqlite inserts each body as one row (an id and the body, nothing
// indexed but the id) into a SQLite file in WAL mode with synchronous=FULL,
// one transaction per group, with the driver hookd uses.
//
// Standard library and modernc.org/sqlite only.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18190", "address to listen on")
	dir := flag.String("dir", "", "directory for the log file or database (required)")
	store := flag.String("store", "file", "file or sqlite")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "floor: -dir is required")
		os.Exit(2)
	}
	var (
		w   Writer
		err error
	)
	switch *store {
	case "file":
		w, err = OpenFile(filepath.Join(*dir, "floor.log"))
	case "sqlite":
		w, err = OpenSQLite(filepath.Join(*dir, "floor.db"))
	default:
		err = fmt.Errorf("-store must be file or sqlite, not %q", *store)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(2)
	}
	f := New(w)
	go f.Run()
	srv := &http.Server{Addr: *listen, Handler: f, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("floor: %s, %s in %s", *listen, *store, *dir)
	log.Fatal(srv.ListenAndServe())
}

// Writer makes a group of bodies durable, all or none.
type Writer interface {
	Write(bodies [][]byte) error
}

// Floor accepts bodies (ServeHTTP) and writes them in groups (Run).
type Floor struct {
	w     Writer
	queue chan *call
}

type call struct {
	body []byte
	done chan error
}

// New returns a Floor writing through w.
func New(w Writer) *Floor {
	return &Floor{w: w, queue: make(chan *call, 1024)}
}

func (f *Floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	c := &call{body: body, done: make(chan error, 1)}
	f.queue <- c
	if err := <-c.done; err != nil {
		http.Error(w, "not written", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"success":true,"status":"queued"}`)
}

// Run writes whatever calls are queued as one group, answers them, and
// repeats; it never returns.
func (f *Floor) Run() {
	var group []*call
	var bodies [][]byte
	for c := range f.queue {
		group, bodies = append(group[:0], c), append(bodies[:0], c.body)
	more:
		for len(group) < 256 {
			select {
			case c := <-f.queue:
				group, bodies = append(group, c), append(bodies, c.body)
			default:
				break more
			}
		}
		err := f.w.Write(bodies)
		for _, c := range group {
			c.done <- err
		}
	}
}

// FileWriter appends groups to one file and fsyncs it after each: a length
// line, then the body, per call.
type FileWriter struct {
	f   *os.File
	buf []byte
}

// OpenFile creates (truncating) the log file at path.
func OpenFile(path string) (*FileWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &FileWriter{f: f}, nil
}

func (w *FileWriter) Write(bodies [][]byte) error {
	w.buf = w.buf[:0]
	for _, b := range bodies {
		w.buf = strconv.AppendInt(w.buf, int64(len(b)), 10)
		w.buf = append(w.buf, '\n')
		w.buf = append(w.buf, b...)
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return err
	}
	return w.f.Sync()
}

// SQLiteWriter inserts each body as one row, one transaction per group.
type SQLiteWriter struct {
	db  *sql.DB
	ins *sql.Stmt
	seq int64
}

// OpenSQLite creates the database at path (WAL, synchronous=FULL) with one
// table of (id, body).
func OpenSQLite(path string) (*SQLiteWriter, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS calls (id TEXT PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		db.Close()
		return nil, err
	}
	ins, err := db.Prepare(`INSERT INTO calls (id, body) VALUES (?, ?)`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &SQLiteWriter{db: db, ins: ins, seq: time.Now().UnixNano()}, nil
}

func (w *SQLiteWriter) Write(bodies [][]byte) error {
	tx, err := w.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	ins := tx.Stmt(w.ins)
	for _, b := range bodies {
		w.seq++
		if _, err := ins.Exec(fmt.Sprintf("call_%020d", w.seq), string(b)); err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	return tx.Commit()
}
