package observe_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

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
