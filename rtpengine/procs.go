package rtpengine

import (
	"runtime"
	"sync"
)

// procs counts the Ps that engines' dedicated receive loops added to
// GOMAXPROCS (see Config.DedicatedReceive), so that defaults sized from
// GOMAXPROCS see the operator's figure, not one raised by an engine, and
// several engines in one process (tests) add and take back their own.
var procs struct {
	sync.Mutex
	added int
}

// addProcs raises GOMAXPROCS by n, or lowers it by -n.
func addProcs(n int) {
	procs.Lock()
	defer procs.Unlock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	procs.added += n
}

// baseProcs is GOMAXPROCS without the Ps dedicated loops added.
func baseProcs() int {
	procs.Lock()
	defer procs.Unlock()
	return max(1, runtime.GOMAXPROCS(0)-procs.added)
}
