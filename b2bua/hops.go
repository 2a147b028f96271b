package b2bua

import "github.com/emiago/sipgo/sip"

// Loop protection across the B2BUA. A proxy decrements Max-Forwards and
// refuses a request that reached zero (RFC 3261 §16.3, §16.6); a B2BUA
// that starts every leg it sends at 70 hides a routing loop from both —
// a carrier that sends a forwarded call back to earshot would make calls
// from calls until every call slot is taken. earshot carries the count
// through instead: an initial INVITE that arrives with Max-Forwards 0
// gets 483, and the INVITEs its call sends (to agents, carriers, a
// transfer's target) carry what the caller's INVITE had, less one.

// maxForwards is what a request earshot starts carries (RFC 3261 §8.1.1.6).
const maxForwards = 70

// hopsAfter is the Max-Forwards of the INVITEs a call started by req
// sends: req's less one, with a missing or larger value taken as 70.
func hopsAfter(req *sip.Request) uint32 {
	n := uint32(maxForwards)
	if mf := req.MaxForwards(); mf != nil && uint32(*mf) < n {
		n = uint32(*mf)
	}
	if n == 0 {
		return 0
	}
	return n - 1
}

// setMaxForwards replaces req's Max-Forwards.
func setMaxForwards(req *sip.Request, n uint32) {
	h := sip.MaxForwardsHeader(n)
	req.ReplaceHeader(&h)
}
