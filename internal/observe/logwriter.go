package observe

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// LogWriter buffers log lines and writes them out at most FlushInterval later, so that the
// access log costs a memory copy per request rather than a write to the terminal or pipe. The
// buffer is also written out when it fills, and by Close. A process killed outright loses at
// most the last FlushInterval of lines; a handler's panic does not kill it (it is recovered).
type LogWriter struct {
	mu     sync.Mutex
	buf    *bufio.Writer
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// FlushInterval bounds how long a log line waits in the buffer.
const FlushInterval = 100 * time.Millisecond

// logBufferSize is written out at once when full: a few hundred access-log lines.
const logBufferSize = 64 << 10

// NewLogWriter returns a buffered writer to w; call Close to write out the rest and stop.
func NewLogWriter(w io.Writer) *LogWriter {
	l := &LogWriter{buf: bufio.NewWriterSize(w, logBufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go l.flushEvery(FlushInterval)
	return l
}

// Write buffers one log line. slog handlers write each record with one call, so lines are
// never interleaved.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	if err == nil && l.closed { // after Close, nothing flushes later: write through
		err = l.buf.Flush()
	}
	return n, err
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
			l.Flush()
		}
	}
}

// Flush writes out what is buffered.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Flush()
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
