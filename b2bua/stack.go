package b2bua

// callStackFrame is the frame growStack takes. A call's goroutine parses
// and rewrites SDP and builds SIP messages, deep in pion and sipgo, and
// its stack, starting small, doubled several times on the way, each time
// copying every frame below and adjusting their pointers: at 1,500
// calls/s that copying (runtime.copystack) was 3–4 % of earshot's CPU.
// Growing it once, while the goroutine has a single frame, costs one
// small copy; the collector shrinks the stack of a call that then sits
// idle.
const callStackFrame = 12 << 10

// growStack makes the calling goroutine's stack big enough for a call's
// work at once (see callStackFrame). Call it first thing in a goroutine.
//
//go:noinline
func growStack() {
	var pad [callStackFrame]byte
	keepFrame(pad[:])
}

// keepFrame takes the frame's address so the compiler keeps it.
//
//go:noinline
func keepFrame([]byte) {}
