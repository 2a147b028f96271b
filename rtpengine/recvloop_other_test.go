//go:build !linux || 386

package rtpengine

// engineGoroutinesFor is how many goroutines engine e runs with legs open
// legs: the timeout watcher and two readers per leg.
func engineGoroutinesFor(e *Engine, legs int) int { return 1 + 2*legs }

// readEachPacket: the reader goroutines here read each packet on their own.
func readEachPacket(*Engine) {}
