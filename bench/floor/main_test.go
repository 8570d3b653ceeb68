package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Concurrent POSTs are each answered 202 once written, and every body is in
// the store afterwards, once; other methods are refused.
func TestFloorWrites(t *testing.T) {
	for _, store := range []string{"file", "sqlite"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			var w Writer
			var err error
			if store == "file" {
				w, err = OpenFile(filepath.Join(dir, "floor.log"))
			} else {
				w, err = OpenSQLite(filepath.Join(dir, "floor.db"))
			}
			if err != nil {
				t.Fatal(err)
			}
			f := New(w)
			go f.Run()
			srv := httptest.NewServer(f)
			defer srv.Close()

			var want []string
			for i := range 40 {
				want = append(want, `{"n":`+strconv.Itoa(i)+`}`)
			}
			var wg sync.WaitGroup
			for _, body := range want {
				wg.Go(func() {
					resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						t.Errorf("POST: %d, want 202", resp.StatusCode)
					}
				})
			}
			wg.Wait()
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("GET: %d, want 405", resp.StatusCode)
			}

			var got []string
			if store == "file" {
				got = readLog(t, filepath.Join(dir, "floor.log"))
			} else {
				rows, err := w.(*SQLiteWriter).db.Query(`SELECT body FROM calls`)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var b string
					if err := rows.Scan(&b); err != nil {
						t.Fatal(err)
					}
					got = append(got, b)
				}
				rows.Close()
			}
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("stored %q, want %q", got, want)
			}
		})
	}
}

// readLog reads FileWriter's records back.
func readLog(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []string
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF && line == "" {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
}
