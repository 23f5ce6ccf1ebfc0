package observe_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/observe"
)

// lockedBuffer is a bytes.Buffer safe for the flusher goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLogWriterKeepsEveryLineInOrder(t *testing.T) {
	var out lockedBuffer
	w := observe.NewLogWriter(&out)
	var want strings.Builder
	for i := range 5000 { // more than one buffer's worth
		line := strings.Repeat("x", i%90) + "\n"
		want.WriteString(line)
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != want.String() {
		t.Fatalf("wrote %d bytes, want %d, in order", len(got), want.Len())
	}
	if _, err := w.Write([]byte("late\n")); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasSuffix(got, "late\n") {
		t.Errorf("a line written after Close was not written out at once")
	}
}

func TestLogWriterFlushes(t *testing.T) {
	var out lockedBuffer
	w := observe.NewLogWriter(&out)
	defer w.Close()
	if _, err := w.Write([]byte("one line\n")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "" {
		t.Fatalf("the line was written at once; want it buffered")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "one line\n" {
		t.Errorf("after Flush the output is %q", got)
	}
}

// stalledOutput is a log output that blocks every write until released, like a full pipe.
type stalledOutput struct {
	entered chan struct{}
	release chan struct{}
	lockedBuffer
}

func (s *stalledOutput) Write(p []byte) (int, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return s.lockedBuffer.Write(p)
}

// A request that fills the buffer, and those after it, do not wait for a stalled output.
func TestLogWriterDoesNotMakeRequestsWaitForTheOutput(t *testing.T) {
	out := &stalledOutput{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := observe.NewLogWriter(out)
	line := strings.Repeat("x", 99) + "\n"
	const lines = 2000 // 200 KB: past one buffer, within what may be pending
	wrote := make(chan error, 1)
	go func() {
		for range lines {
			if _, err := w.Write([]byte(line)); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(out.release)
		t.Fatal("the writes waited for the stalled output")
	}
	<-out.entered // the flusher is the one waiting
	close(out.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != strings.Repeat(line, lines) {
		t.Errorf("wrote %d bytes, want %d, in order", len(got), lines*len(line))
	}
}
