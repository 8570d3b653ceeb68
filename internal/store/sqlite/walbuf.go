package sqlite

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// walBufVFS is the name of the VFS the writer opens the database with when
// synchronous=FULL: SQLite's own unix VFS, except that the WAL file's writes
// are gathered and written a few at a time.
//
// Why: SQLite appends a commit to the WAL frame by frame, two pwrite calls
// per page (the 24-byte frame header, then the page), and a group commit of
// accepted trigger calls writes about 33 pages: some 66 system calls, a
// sixth of the writer's time on this kind of machine. With synchronous=FULL
// the commit then syncs the WAL (xSync) before it publishes the new frames
// to readers in the WAL index; so the frames may wait in a buffer until that
// xSync, and go to the file in pwrites of up to 124 KiB (walWriteMax):
// two for such a commit. Measured with BenchmarkWriterCostAccept at
// synchronous=FULL, alternated: 69–71 µs of writer CPU per accepted call
// without it, 60–61 µs with it (docs/BENCHMARKS.md).
//
// The rules that keep this exact: writes that continue the buffered run are
// appended to it (up to walBufSize); any other call on the WAL file (read,
// sync, truncate, size, lock, file control, close) and any write elsewhere
// first writes the buffer out. Readers (other connections) read only frames
// the WAL index lists, and the index lists them only after the xSync. So
// nothing can read a frame that is still in the buffer, and a crash loses
// only what no xSync (so no acknowledgement) covered. Not used with
// synchronous=NORMAL, where no xSync follows a commit.
const walBufVFS = "hookd-walbuf"

// walBufSize bounds one buffered run (a bigger write goes straight through).
const walBufSize = 1 << 20

// walFile is the buffer of one open WAL file (one per connection).
type walFile struct {
	real uintptr // the unix VFS's io methods for this file
	buf  []byte
	off  int64 // file offset of buf[0]
}

var (
	walBufOnce sync.Once
	walBufErr  error

	// The VFS and the WAL files' io methods live in package variables: SQLite
	// keeps pointers to them, and globals neither move nor get collected.
	walVFS     sqlite3.Tsqlite3_vfs
	walMethods sqlite3.Tsqlite3_io_methods
	walVFSName = []byte(walBufVFS + "\x00")
	unixVFS    uintptr // the VFS walVFS wraps

	walFilesMu sync.Mutex
	walFiles   = map[uintptr]*walFile{} // by sqlite3_file pointer

	// SQLite's writes to WAL files, and the writes made of them (tests check
	// that frames are gathered).
	walCalls, walWrites atomic.Int64
)

// registerWALBuf registers walBufVFS once (not as the default).
func registerWALBuf() error {
	walBufOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		unixVFS = sqlite3.Xsqlite3_vfs_find(tls, 0) // the default: "unix"
		if unixVFS == 0 {
			walBufErr = errNoVFS
			return
		}
		walVFS = *(*sqlite3.Tsqlite3_vfs)(cptr(unixVFS))
		walVFS.FpNext = 0
		walVFS.FzName = uintptr(unsafe.Pointer(&walVFSName[0]))
		walVFS.FxOpen = cFunc(walOpen)
		if rc := sqlite3.Xsqlite3_vfs_register(tls, uintptr(unsafe.Pointer(&walVFS)), 0); rc != sqlite3.SQLITE_OK {
			walBufErr = errVFSRegister
		}
	})
	return walBufErr
}

type vfsError string

func (e vfsError) Error() string { return string(e) }

const (
	errNoVFS       = vfsError("sqlite: no default VFS to wrap")
	errVFSRegister = vfsError("sqlite: registering the WAL buffer VFS failed")
)

// cFunc is the C function pointer of a Go function for modernc's SQLite,
// which calls a function pointer as a pointer to a Go func value (see
// modernc.org/sqlite's cFuncPointer): f must be a top-level function.
func cFunc[T any](f T) uintptr {
	return *(*uintptr)(unsafe.Pointer(&struct{ f T }{f}))
}

// goFunc is the Go function behind a C function pointer of modernc's SQLite
// (cFunc's inverse): F must be the function's exact type.
func goFunc[F any](p uintptr) F {
	return *(*F)(unsafe.Pointer(&struct{ uintptr }{p}))
}

// cptr is the pointer p holds: memory of SQLite's (C memory of modernc's
// libc, or Go globals given to it), never of the Go heap.
func cptr(p uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&p))
}

// walOpen is walVFS's xOpen: the unix VFS opens the file in place (the
// sqlite3_file is the unix VFS's own, so every other file keeps its methods
// untouched); a WAL file gets walMethods, which buffer and then call the
// unix methods on the same sqlite3_file.
func walOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	open := goFunc[func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32]((*sqlite3.Tsqlite3_vfs)(cptr(unixVFS)).FxOpen)
	rc := open(tls, unixVFS, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK || flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	file := (*sqlite3.Tsqlite3_file)(cptr(pFile))
	if file.FpMethods == 0 {
		return rc
	}
	walFilesMu.Lock()
	if walMethods.FxWrite == 0 {
		// The unix methods once, then ours over those that must see the buffer.
		walMethods = *(*sqlite3.Tsqlite3_io_methods)(cptr(file.FpMethods))
		walMethods.FxClose = cFunc(walClose)
		walMethods.FxRead = cFunc(walRead)
		walMethods.FxWrite = cFunc(walWrite)
		walMethods.FxTruncate = cFunc(walTruncate)
		walMethods.FxSync = cFunc(walSync)
		walMethods.FxFileSize = cFunc(walFileSize)
		walMethods.FxLock = cFunc(walLock)
		walMethods.FxUnlock = cFunc(walUnlock)
		walMethods.FxCheckReservedLock = cFunc(walCheckReservedLock)
		walMethods.FxFileControl = cFunc(walFileControl)
	}
	walFiles[pFile] = &walFile{real: file.FpMethods, buf: make([]byte, 0, walBufSize)}
	walFilesMu.Unlock()
	file.FpMethods = uintptr(unsafe.Pointer(&walMethods))
	return rc
}

// walLookup returns the buffer of pFile.
func walLookup(pFile uintptr) *walFile {
	walFilesMu.Lock()
	w := walFiles[pFile]
	walFilesMu.Unlock()
	return w
}

// walFlushed returns the buffer of pFile after writing it out, as every
// method but xWrite must before the unix method runs; rc is the flush's.
func walFlushed(tls *libc.TLS, pFile uintptr) (w *walFile, rc int32) {
	w = walLookup(pFile)
	return w, w.flush(tls, pFile)
}

func (w *walFile) methods() *sqlite3.Tsqlite3_io_methods {
	return (*sqlite3.Tsqlite3_io_methods)(cptr(w.real))
}

// flush writes the buffered run out with the unix xWrite.
func (w *walFile) flush(tls *libc.TLS, pFile uintptr) int32 {
	if len(w.buf) == 0 {
		return sqlite3.SQLITE_OK
	}
	rc := int32(sqlite3.SQLITE_OK)
	for b, off := w.buf, w.off; len(b) > 0 && rc == sqlite3.SQLITE_OK; {
		n := min(len(b), walWriteMax)
		walWrites.Add(1)
		rc = w.write(tls, pFile, uintptr(unsafe.Pointer(&b[0])), int32(n), off)
		b, off = b[n:], off+int64(n)
	}
	w.buf = w.buf[:0]
	return rc
}

// walWriteMax is the most one unix xWrite takes: it writes at most 128 KiB
// less one byte per system call (nBuf &= 0x1ffff in seekAndWriteFd) and
// reports SQLITE_FULL when a remainder of exactly 128 KiB writes nothing.
const walWriteMax = 0x1f000

func (w *walFile) write(tls *libc.TLS, pFile, p uintptr, n int32, off int64) int32 {
	return goFunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](w.methods().FxWrite)(tls, pFile, p, n, off)
}

func walWrite(tls *libc.TLS, pFile, p uintptr, n int32, off int64) int32 {
	walCalls.Add(1)
	w := walLookup(pFile)
	if len(w.buf) > 0 && off == w.off+int64(len(w.buf)) && len(w.buf)+int(n) <= cap(w.buf) {
		w.buf = append(w.buf, unsafe.Slice((*byte)(cptr(p)), n)...)
		return sqlite3.SQLITE_OK
	}
	if rc := w.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	if int(n) > walWriteMax {
		walWrites.Add(1)
		return w.write(tls, pFile, p, n, off) // as SQLite would: its own callers keep within the limit
	}
	w.buf = append(w.buf[:0], unsafe.Slice((*byte)(cptr(p)), n)...)
	w.off = off
	return sqlite3.SQLITE_OK
}

func walClose(tls *libc.TLS, pFile uintptr) int32 {
	w, rc := walFlushed(tls, pFile)
	close := goFunc[func(*libc.TLS, uintptr) int32](w.methods().FxClose)
	// The unix close frees what it owns whatever happened before.
	(*sqlite3.Tsqlite3_file)(cptr(pFile)).FpMethods = w.real
	crc := close(tls, pFile)
	walFilesMu.Lock()
	delete(walFiles, pFile)
	walFilesMu.Unlock()
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return crc
}

func walRead(tls *libc.TLS, pFile, p uintptr, n int32, off int64) int32 {
	w, rc := walFlushed(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return goFunc[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](w.methods().FxRead)(tls, pFile, p, n, off)
}

func walTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	w, rc := walFlushed(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return goFunc[func(*libc.TLS, uintptr, int64) int32](w.methods().FxTruncate)(tls, pFile, size)
}

func walSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	w, rc := walFlushed(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return goFunc[func(*libc.TLS, uintptr, int32) int32](w.methods().FxSync)(tls, pFile, flags)
}

func walFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	w, rc := walFlushed(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return goFunc[func(*libc.TLS, uintptr, uintptr) int32](w.methods().FxFileSize)(tls, pFile, pSize)
}

func walLock(tls *libc.TLS, pFile uintptr, level int32) int32 {
	w, rc := walFlushed(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return goFunc[func(*libc.TLS, uintptr, int32) int32](w.methods().FxLock)(tls, pFile, level)
}

func walUnlock(tls *libc.TLS, pFile uintptr, level int32) int32 {
	w, rc := walFlushed(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return goFunc[func(*libc.TLS, uintptr, int32) int32](w.methods().FxUnlock)(tls, pFile, level)
}

func walCheckReservedLock(tls *libc.TLS, pFile, pResOut uintptr) int32 {
	w, rc := walFlushed(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return goFunc[func(*libc.TLS, uintptr, uintptr) int32](w.methods().FxCheckReservedLock)(tls, pFile, pResOut)
}

func walFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	w, rc := walFlushed(tls, pFile)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return goFunc[func(*libc.TLS, uintptr, int32, uintptr) int32](w.methods().FxFileControl)(tls, pFile, op, pArg)
}
