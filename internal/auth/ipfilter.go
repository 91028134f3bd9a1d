package auth

import (
	"fmt"
	"net/netip"
	"strings"
)

// ipPolicy decides which addresses a JWKS URI may connect to
// (client_auth.jwks_reject_ip_ranges and block_local_jwks). It is checked on
// the resolved address of every connection, so DNS cannot route around it.
type ipPolicy struct {
	rejectLocal bool
	rejectIPv6  bool
	ranges      []netip.Prefix
}

// nonPublic lists the ranges that are not public unicast, beyond what
// netip.Addr's Is* methods cover.
var nonPublic = mustPrefixes(
	"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4",
	"64:ff9b::/96", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
)

func mustPrefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func newIPPolicy(ranges []string, blockLocal bool) (*ipPolicy, error) {
	p := &ipPolicy{rejectLocal: blockLocal, rejectIPv6: blockLocal}
	var bad []string
	for _, r := range ranges {
		r = strings.TrimSpace(r)
		if r == "local" {
			p.rejectLocal = true
			continue
		}
		if pre, err := netip.ParsePrefix(r); err == nil {
			p.ranges = append(p.ranges, pre.Masked())
			continue
		}
		if a, err := netip.ParseAddr(r); err == nil {
			p.ranges = append(p.ranges, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		bad = append(bad, fmt.Sprintf("%q", r))
	}
	if len(bad) > 0 {
		return nil, &ConfigError{Code: CodeAuthConfig, Field: "client_auth.jwks_reject_ip_ranges",
			Msg: fmt.Sprintf("%s: not a CIDR range, an IP address or \"local\"", strings.Join(bad, ", "))}
	}
	return p, nil
}

func (p *ipPolicy) empty() bool { return !p.rejectLocal && !p.rejectIPv6 && len(p.ranges) == 0 }

// check returns nil when ip may be contacted.
func (p *ipPolicy) check(ip netip.Addr) *Error {
	ip = ip.Unmap()
	if p.rejectIPv6 && ip.Is6() {
		return newError(CodeIPv6Disabled, "IPv6 support not enabled for JWKS URI (address %s)", ip)
	}
	if p.rejectLocal && !isPublicUnicast(ip) {
		return newError(CodeIPRangeBlocked, "IPs in this range are not supported: %s (not a public address, and jwks_reject_ip_ranges has \"local\")", ip)
	}
	for _, r := range p.ranges {
		if r.Contains(ip) {
			return newError(CodeIPRangeBlocked, "IPs in this range are not supported: %s (in rejected range %s)", ip, r)
		}
	}
	return nil
}

func isPublicUnicast(ip netip.Addr) bool {
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() {
		return false
	}
	for _, r := range nonPublic {
		if r.Contains(ip) {
			return false
		}
	}
	return true
}
