package observe

import (
	"io"
	"sync"
	"time"
)

// LogWriter buffers log lines and writes them out at most FlushInterval later, so that the
// access log costs a memory copy per request rather than a write to the terminal or pipe. The
// buffer is also handed to the flusher when it fills, and written out by Close. A process killed
// outright loses at most the last FlushInterval of lines; a handler's panic does not kill it (it
// is recovered).
//
// A request never waits for the output: the lines are appended under a short lock, and the
// flusher goroutine swaps the buffer out and writes it without that lock (measured: with one
// buffer written out under the lock, a request that filled it, and every request logging behind
// it, waited for a 64 KiB write, which showed in the p99 at peak). Only when the output falls
// more than maxPending behind does a request write out itself, so memory stays bounded.
type LogWriter struct {
	w io.Writer
	// out is held while a batch is written, so that batches go out in the order taken; it is
	// taken before mu, never after.
	out sync.Mutex

	mu     sync.Mutex
	buf    []byte // lines not yet taken by a write-out
	spare  []byte // the buffer of the last write-out, reused
	closed bool

	full chan struct{} // wakes the flusher early: buf passed logBufferSize
	stop chan struct{}
	done chan struct{}
}

// FlushInterval bounds how long a log line waits in the buffer.
const FlushInterval = 100 * time.Millisecond

// logBufferSize is handed to the flusher at once when full: a few hundred access-log lines.
// maxPending is how far the output may fall behind before a request writes out itself.
const (
	logBufferSize = 64 << 10
	maxPending    = 16 * logBufferSize
)

// NewLogWriter returns a buffered writer to w; call Close to write out the rest and stop.
func NewLogWriter(w io.Writer) *LogWriter {
	l := &LogWriter{w: w, buf: make([]byte, 0, logBufferSize), spare: make([]byte, 0, logBufferSize),
		full: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushEvery(FlushInterval)
	return l
}

// Write buffers one log line. slog handlers write each record with one call, so lines are
// never interleaved.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf = append(l.buf, p...)
	pending, closed := len(l.buf), l.closed
	l.mu.Unlock()
	switch {
	case closed || pending >= maxPending: // after Close nothing flushes later; or far behind
		return len(p), l.Flush()
	case pending >= logBufferSize:
		select {
		case l.full <- struct{}{}:
		default: // the flusher was woken already
		}
	}
	return len(p), nil
}

func (l *LogWriter) flushEvery(interval time.Duration) {
	defer close(l.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ticker.C:
		case <-l.full:
		}
		_ = l.Flush() // a failing log output has nobody to tell; the next write-out tries again
	}
}

// Flush writes out what is buffered.
func (l *LogWriter) Flush() error {
	l.out.Lock()
	defer l.out.Unlock()
	l.mu.Lock()
	batch := l.buf
	l.buf, l.spare = l.spare, nil
	l.mu.Unlock()
	var err error
	if len(batch) > 0 {
		_, err = l.w.Write(batch)
	}
	if cap(batch) > maxPending { // grown while far behind: let it go
		batch = make([]byte, 0, logBufferSize)
	}
	l.mu.Lock()
	l.spare = batch[:0]
	l.mu.Unlock()
	return err
}

// Close stops the periodic flush and writes out the rest; later writes go out at once.
func (l *LogWriter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return l.Flush()
}
