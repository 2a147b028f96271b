package rtpengine

import (
	"math"
	"testing"
)

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

// BenchmarkSessionSetupParallel: the same from many goroutines at once, as
// the b2bua's request goroutines set calls up and tear them down, with the
// pool's sockets kept (within its descriptor budget) and past its budget,
// where every tear-down closes its sockets and every set-up binds new ones.
func BenchmarkSessionSetupParallel(b *testing.B) {
	for _, c := range []struct {
		name    string
		keepMax int
	}{{"kept", math.MaxInt}, {"past-budget", 0}} {
		b.Run(c.name, func(b *testing.B) {
			e := testEngine(b, func(c *Config) { c.PortQuarantine = 1 }, nil)
			e.pool.mu.Lock()
			e.pool.keepMax = c.keepMax
			e.pool.mu.Unlock()
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s, err := e.NewSession("bench", nil)
					if err != nil {
						b.Error(err)
						return
					}
					s.Close()
				}
			})
		})
	}
}
