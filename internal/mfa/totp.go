package mfa

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The TOTP parameters every authenticator app understands (RFC 6238's defaults): HMAC-SHA-1,
// 6 digits, 30-second steps, and a 160-bit secret (RFC 4226's recommendation).
const (
	TOTPDigits     = 6
	TOTPPeriod     = 30 * time.Second
	totpSecretSize = 20
	// totpSkew is how many steps before and after the current one a code may be of, for clocks
	// that drift and codes typed slowly.
	totpSkew = 1
	// qrSize is the QR code's width and height in pixels.
	qrSize = 256
)

// TOTPEnrolment is a new secret in the forms an app takes.
type TOTPEnrolment struct {
	Secret string // base32, no padding
	URI    string // otpauth://totp/...
	QRPNG  string // the URI's QR code, a PNG in base64
}

// NewTOTP makes a new secret for account (the user's email) under issuer (the service's name
// as the app shows it).
func NewTOTP(issuer, account string) (TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: uint(TOTPPeriod / time.Second),
		SecretSize: totpSecretSize, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("generate a TOTP secret: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("draw the TOTP QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("encode the TOTP QR code: %w", err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URI: key.URL(), QRPNG: base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// TOTPStep is the time step of t: the counter a code of that moment is made from.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCode is the code of secret at step (tests and the browser check compute codes so).
func TOTPCode(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*int64(TOTPPeriod/time.Second), 0), validateOpts)
}

var validateOpts = totp.ValidateOpts{Period: uint(TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// MatchTOTP returns the step, among the current one at now and totpSkew on either side, whose
// code is code; ok is false when none is. Every candidate is compared in constant time. Whether
// the step was used already is the caller's to decide (UseTOTPStep).
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool, err error) {
	current := TOTPStep(now)
	for s := current - totpSkew; s <= current+totpSkew; s++ {
		want, err := TOTPCode(secret, s)
		if err != nil {
			return 0, false, fmt.Errorf("compute a TOTP code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok, nil
}
