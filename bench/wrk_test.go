package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHeadFormatsARequestWithoutItsBlankLine(t *testing.T) {
	get := httpRequest{method: "GET", path: "/api/v1/sessions/read", header: [][2]string{{"Authorization", "Bearer pas_x"}}}
	if got, want := get.head("127.0.0.1:8080"), "GET /api/v1/sessions/read HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer pas_x\r\n"; got != want {
		t.Errorf("GET head = %q, want %q", got, want)
	}
	post := sensitive("/api/v1/sessions/create", map[string]any{"a": 1})
	if got, want := post.head("h"), "POST /api/v1/sessions/create HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"; got != want {
		t.Errorf("POST head = %q, want %q", got, want)
	}
}

func TestLuaQuoteEscapesWhatLuaWouldRead(t *testing.T) {
	if got, want := luaQuote("a\"b\\c\r\n\x00é"), `"a\"b\\c\013\010\000\195\169"`; got != want {
		t.Errorf("luaQuote = %s, want %s", got, want)
	}
}

func TestFromAddressDoesNotShareHeaders(t *testing.T) {
	base := login("a@example.com")
	one, two := fromAddress(base, 1), fromAddress(base, 258)
	if len(base.header) != 1 || one.header[1][1] != "10.0.0.1" || two.header[1][1] != "10.0.1.2" {
		t.Errorf("headers: base %v, one %v, two %v", base.header, one.header, two.header)
	}
}

func TestParseClosedLoopFigures(t *testing.T) {
	s := parseFixture(t, false, "requests 1000\nduration_us 2000000\nerror_connect 1\nerror_read 0\nerror_write 0\nerror_status 3\nerror_timeout 2\np50_us 150\np99_us 2500\n")
	if s.answered != 1000 || s.rate() != 500 || s.errors != 6 || s.p50 != 150*time.Microsecond || s.p99 != 2500*time.Microsecond {
		t.Errorf("closed loop: %+v", s)
	}
}

func TestParseOpenLoopFiguresSplitsByStatus(t *testing.T) {
	out := "requests 6\nduration_us 1000000\nerror_connect 0\nerror_read 0\nerror_write 0\nerror_status 3\nerror_timeout 9\n" +
		"r 200 100 0\nr 200 300 0\nr 429 50 1\nr 429 60 0\nr 500 70 0\nr 200 200 0\nsent 8\nlate 1\nresent 0\n"
	s := parseFixture(t, true, out)
	if s.answered != 6 || s.sent != 8 || s.unfinished != 2 || s.late != 1 {
		t.Errorf("counts: %+v", s)
	}
	// Slow answers (wrk's error_timeout) are answers, timed by the script: not errors.
	if s.statuses[200] != 3 || s.shed != 1 || s.errors != 3 {
		t.Errorf("statuses %v, shed %d, errors %d", s.statuses, s.shed, s.errors)
	}
	if s.p50 != 200*time.Microsecond || s.p99 != 300*time.Microsecond {
		t.Errorf("percentiles of the 200s: p50 %s, p99 %s", s.p50, s.p99)
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	if err := os.WriteFile(path, []byte("requests many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := parseWrkOut(path, false); err == nil {
		t.Error("a line that is not a number parsed")
	}
}

func TestMedianAndPercentile(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3 = %v", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of 4 = %v", got)
	}
	sorted := make([]time.Duration, 100)
	for i := range sorted {
		sorted[i] = time.Duration(i + 1)
	}
	if p := percentile(sorted, 0.99); p != 99 {
		t.Errorf("p99 of 1..100 = %v", p)
	}
}

func parseFixture(t *testing.T, open bool, content string) sample {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.txt")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := parseWrkOut(path, open)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
