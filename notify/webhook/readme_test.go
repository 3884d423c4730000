package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-security/vigil/notify/webhook"
)

// verify is the receiver's check as README.md shows it, kept here so the
// documented code is known to work.
func verify(secret []byte, header string, body []byte) bool {
	var ts, sig string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || math.Abs(time.Since(time.Unix(t, 0)).Seconds()) > 300 {
		return false // missing, or too old: a replay
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}

func TestREADMEReceiverExample(t *testing.T) {
	body := []byte(`{"EventName":"test-created"}`)
	for _, tc := range []struct {
		name   string
		header string
		body   []byte
		want   bool
	}{
		{"signed now", webhook.Sign([]byte("k"), time.Now(), body), body, true},
		{"body changed", webhook.Sign([]byte("k"), time.Now(), body), append(body, ' '), false},
		{"other secret", webhook.Sign([]byte("x"), time.Now(), body), body, false},
		{"replayed an hour later", webhook.Sign([]byte("k"), time.Now().Add(-time.Hour), body), body, false},
		{"no header", "", body, false},
	} {
		if got := verify([]byte("k"), tc.header, tc.body); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}
