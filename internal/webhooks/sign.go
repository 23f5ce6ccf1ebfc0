package webhooks

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks headers.
const (
	HeaderID        = standardwebhooks.HeaderWebhookID
	HeaderTimestamp = standardwebhooks.HeaderWebhookTimestamp
	HeaderSignature = standardwebhooks.HeaderWebhookSignature
)

// Sign returns the webhook-signature header of a message: "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" for each secret, space-separated (during a rotation the receiver may
// still hold the previous secret). The signing is the scheme's reference library's.
func Sign(secrets []string, id string, at time.Time, body []byte) (string, error) {
	signatures := make([]string, 0, len(secrets))
	for _, secret := range secrets {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			return "", fmt.Errorf("signing secret: %w", err)
		}
		signature, err := wh.Sign(id, at, body)
		if err != nil {
			return "", fmt.Errorf("sign webhook %s: %w", id, err)
		}
		signatures = append(signatures, signature)
	}
	return strings.Join(signatures, " "), nil
}

// SetHeaders sets the Standard Webhooks headers of a message sent at at.
func SetHeaders(h http.Header, secrets []string, id string, at time.Time, body []byte) error {
	signature, err := Sign(secrets, id, at, body)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, signature)
	return nil
}
