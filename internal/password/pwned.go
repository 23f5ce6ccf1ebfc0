package password

import (
	"bufio"
	"context"
	"crypto/sha1" //nolint:gosec // the range API is keyed by SHA-1; nothing is stored
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultPwnedTimeout bounds one question to the breach API: a new password waits at most this
// long for it, and is accepted when it does not answer in time.
const DefaultPwnedTimeout = 2 * time.Second

// maxRangeBytes bounds a range answer (about 30 KiB with padding); more is not the API.
const maxRangeBytes = 1 << 20

// PwnedConfig says where Have I Been Pwned's Pwned Passwords range API is; an empty URL turns
// the check off.
type PwnedConfig struct {
	URL     string // e.g. https://api.pwnedpasswords.com (`/range/{prefix}` is appended)
	Timeout time.Duration
}

// Pwned asks Have I Been Pwned whether a password appeared in a breach, with k-anonymity: only
// the first 5 hexadecimal characters of the password's SHA-1 leave the process, and the
// answer lists every suffix with that prefix (padded with decoys, Add-Padding), which is
// searched here.
type Pwned struct {
	base   string
	client *http.Client
}

// NewPwned returns the checker of cfg, or nil when cfg has no URL (checking is off).
func NewPwned(cfg PwnedConfig) *Pwned {
	if cfg.URL == "" {
		return nil
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultPwnedTimeout
	}
	return &Pwned{base: strings.TrimRight(cfg.URL, "/"), client: &http.Client{Timeout: timeout}}
}

// Count returns how often plain appears in the breaches the API knows (0: never). An error
// means the API could not be asked or answered nonsense; callers accept the password then,
// since an outage of a third party must not stop anyone from choosing one.
func (p *Pwned) Count(ctx context.Context, plain string) (int, error) {
	sum := sha1.Sum([]byte(plain)) //nolint:gosec // see the import
	digest := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := digest[:5], digest[5:]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/range/"+prefix, nil)
	if err != nil {
		return 0, fmt.Errorf("pwned passwords request: %w", err)
	}
	req.Header.Set("Add-Padding", "true")
	req.Header.Set("User-Agent", "PlanoAuth")
	res, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ask pwned passwords: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("pwned passwords answered %s", res.Status)
	}
	return findSuffix(io.LimitReader(res.Body, maxRangeBytes), suffix)
}

// findSuffix reads "SUFFIX:COUNT" lines and returns the count of suffix (padding lines have a
// count of 0).
func findSuffix(r io.Reader, suffix string) (int, error) {
	lines := bufio.NewScanner(r)
	for lines.Scan() {
		hash, count, ok := strings.Cut(strings.TrimSpace(lines.Text()), ":")
		if !ok || !strings.EqualFold(hash, suffix) {
			continue
		}
		n, err := strconv.Atoi(count)
		if err != nil {
			return 0, fmt.Errorf("pwned passwords count %q: %w", count, err)
		}
		return n, nil
	}
	if err := lines.Err(); err != nil {
		return 0, fmt.Errorf("read pwned passwords answer: %w", err)
	}
	return 0, nil
}
