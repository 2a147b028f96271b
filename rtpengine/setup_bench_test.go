package rtpengine

import "testing"

// BenchmarkSessionSetup: one call's media set-up and tear-down as the
// b2bua does it, without packets: a session (two legs, four sockets,
// watched by the receive loops) opened and closed. A short quarantine
// keeps the port range from running dry.
func BenchmarkSessionSetup(b *testing.B) {
	e := testEngine(b, func(c *Config) { c.PortQuarantine = 1 }, nil)
	b.ReportAllocs()
	for b.Loop() {
		s, err := e.NewSession("bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
