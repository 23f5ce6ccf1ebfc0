package google

import "testing"

// TestBoundTo: a token is an application's when every audience and the authorized party (when
// named) are client ids of that application.
func TestBoundTo(t *testing.T) {
	t.Parallel()
	order := []string{"web.order", "android.order"}
	for _, c := range []struct {
		name     string
		audience []string
		azp      string
		want     bool
	}{
		{"OwnAudience", []string{"web.order"}, "", true},
		{"OwnAudienceAsAZP", []string{"web.order"}, "web.order", true},
		{"AndroidClientForItsBackend", []string{"web.order"}, "android.order", true},
		{"SecondOwnID", []string{"android.order"}, "", true},
		{"BothOwnIDs", []string{"web.order", "android.order"}, "web.order", true},
		{"OtherApplicationsAudience", []string{"web.x2"}, "", false},
		{"OtherApplicationsAudienceOwnAZP", []string{"web.x2"}, "web.order", false},
		{"AlsoIssuedToAnotherApplication", []string{"web.order", "web.x2"}, "web.order", false},
		{"OtherApplicationsAZP", []string{"web.order"}, "android.x2", false},
		{"NoAudience", nil, "web.order", false},
	} {
		if got := boundTo(c.audience, c.azp, order); got != c.want {
			t.Errorf("%s: boundTo(%v, %q) = %t, want %t", c.name, c.audience, c.azp, got, c.want)
		}
	}
	if boundTo([]string{"web.order"}, "", nil) {
		t.Error("a token is bound to an application without client ids")
	}
}
