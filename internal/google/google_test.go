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

// TestAuthoritative: Google vouches for an address's current owner only at Gmail, or when the
// account's Google Workspace domain (hd) is the address's domain, compared in emailaddr's form.
func TestAuthoritative(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		email, hd string
		want      bool
	}{
		{"grace@gmail.com", "", true},
		{"Grace.Hopper@GMail.com", "", true},
		{"grace@googlemail.com", "", true},
		{"grace@gmail.com", "company.example", true}, // Gmail's whatever the account's organisation
		{"alice@company.example", "company.example", true},
		{"Alice@Company.Example", "COMPANY.example", true},
		{"ada@bücher.example", "xn--bcher-kva.example", true}, // one domain, Unicode and ASCII
		{"ada@xn--bcher-kva.example", "Bücher.example", true},
		{"alice@company.example", "", false}, // a personal Google account made with the address
		{"alice@company.example", "evil.example", false},
		{"alice@company.example", "gmail.com", false},
		{"alice@company.example", "example", false},
		{"alice@sub.company.example", "company.example", false}, // another domain of the organisation: not vouched for
		{"alice@company.example", "company.example.", false},
		{"alice@company.example", " company.example", false},
		{"ada@bücher.example", "bucher.example", false},
		{"grace@gmail.com.evil.example", "", false},
		{"grace@notgmail.com", "", false},
		{"grace@gmaіl.com", "", false}, // a Cyrillic і
		{"grace@", "", false},
		{"grace", "", false},
		{"@", "", false},
	} {
		if got := authoritative(c.email, c.hd); got != c.want {
			t.Errorf("authoritative(%q, %q) = %t, want %t", c.email, c.hd, got, c.want)
		}
	}
}
