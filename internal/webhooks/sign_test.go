package webhooks_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/plano/planoauth/internal/webhooks"
)

// The Standard Webhooks scheme's published test vector (the one every library of the
// standard-webhooks repository tests against).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheSchemesTestVector(t *testing.T) {
	t.Parallel()
	got, err := webhooks.Sign([]string{vectorSecret}, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody))
	if err != nil || got != vectorSignature {
		t.Fatalf("Sign = %q, %v; want %q", got, err, vectorSignature)
	}
	// The scheme, written out: HMAC-SHA256 of "id.timestamp.body", keyed with the base64 after
	// whsec_, in base64, after "v1,".
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(vectorSecret, webhooks.SecretPrefix))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(vectorID + ".1614265330." + vectorBody))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); want != vectorSignature {
		t.Fatalf("the scheme written out gives %q, not the vector's %q", want, vectorSignature)
	}
}

func TestSignWithTwoSecrets(t *testing.T) {
	t.Parallel()
	other := webhooks.NewSecret()
	got, err := webhooks.Sign([]string{vectorSecret, other}, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(got, " ")
	if len(parts) != 2 || parts[0] != vectorSignature || !strings.HasPrefix(parts[1], "v1,") || parts[1] == vectorSignature {
		t.Errorf("Sign with two secrets = %q, want the vector's signature and another, space-separated", got)
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := webhooks.NewSecret(), webhooks.NewSecret()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, webhooks.SecretPrefix))
	if !strings.HasPrefix(a, webhooks.SecretPrefix) || err != nil || len(key) != 32 || a == b {
		t.Errorf("NewSecret = %q, %q: want whsec_ and the base64 of 32 random bytes, different each time", a, b)
	}
}

func TestSealer(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, webhooks.KeySize)
	sealer, err := webhooks.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := webhooks.NewSecret()
	sealed := sealer.Seal(secret, 42)
	if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, []byte(strings.TrimPrefix(secret, webhooks.SecretPrefix))) {
		t.Fatal("the sealed secret holds the secret")
	}
	if again := sealer.Seal(secret, 42); bytes.Equal(again, sealed) {
		t.Error("two seals of one secret are equal: the nonce is not fresh")
	}
	if got, err := sealer.Open(sealed, 42); err != nil || got != secret {
		t.Fatalf("Open = %q, %v; want the secret", got, err)
	}
	other, err := webhooks.NewSealer(bytes.Repeat([]byte{8}, webhooks.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() (string, error){
		"AnotherApplication": func() (string, error) { return sealer.Open(sealed, 43) },
		"AnotherKey":         func() (string, error) { return other.Open(sealed, 42) },
		"Tampered":           func() (string, error) { return sealer.Open(tampered, 42) },
		"Truncated":          func() (string, error) { return sealer.Open(sealed[:5], 42) },
	} {
		if got, err := open(); err != webhooks.ErrUnsealable || got != "" {
			t.Errorf("%s: Open = %q, %v; want ErrUnsealable", name, got, err)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for url, ok := range map[string]bool{
		"https://hooks.plano.example/planoauth":                    true,
		"https://hooks.plano.example:8443/x?a=1":                   true,
		"http://127.0.0.1:9000/hook":                               true,
		"http://127.8.9.10/hook":                                   true,
		"http://[::1]:9000/hook":                                   true,
		"http://localhost:9000/hook":                               true,
		"http://hooks.plano.example/hook":                          false,
		"http://10.0.0.5/hook":                                     false,
		"http://169.254.169.254/latest/meta-data/":                 false,
		"ftp://hooks.plano.example/":                               false,
		"https://user:pass@hooks.plano.example/":                   false,
		"https://hooks.plano.example/#frag":                        false,
		"/relative/path":                                           false,
		"https://":                                                 false,
		"https://hooks.plano.example/" + strings.Repeat("a", 2048): false,
	} {
		if err := webhooks.CheckURL(url); (err == nil) != ok {
			t.Errorf("CheckURL(%.60q) = %v, want ok %t", url, err, ok)
		}
	}
}
