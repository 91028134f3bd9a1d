package config_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	cfg := mustParse(t, "api:\n  trusted_proxies: [10.0.0.0/8, 192.0.2.7, \"::1\", \"2001:db8::/32\", 172.16.5.9/12]\n", nil)
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("172.16.0.0/12")}
	if !reflect.DeepEqual(cfg.API.TrustedProxies, want) {
		t.Errorf("trusted proxies %v, want %v", cfg.API.TrustedProxies, want)
	}
	if cfg := mustParse(t, "port: 1\n", nil); cfg.API.TrustedProxies != nil {
		t.Errorf("default %v, want none", cfg.API.TrustedProxies)
	}
	for _, bad := range []string{"everyone", "10.0.0.0/33", "local", "*", "10.0.0.1-10.0.0.9", "http://proxy"} {
		msgs := parseErr(t, "api:\n  trusted_proxies: [\""+bad+"\"]\n", nil)
		if len(msgs) != 1 || !strings.Contains(msgs[0], "api.trusted_proxies[0]: expected a CIDR range") {
			t.Errorf("%q: %v", bad, msgs)
		}
	}
	if msgs := parseErr(t, "api:\n  trusted_proxies: 10.0.0.0/8\n", nil); len(msgs) != 1 || !strings.Contains(msgs[0], "api.trusted_proxies") {
		t.Errorf("a scalar: %v", msgs)
	}
}
