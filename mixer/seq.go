package mixer

// seqUnwrapper extends 16-bit RTP sequence numbers to a monotone int64 space
// so that the jitter buffer can compare and subtract them without caring
// about the wrap from 65535 to 0. Each new number is placed at the extended
// value closest to the previous one, so a step of less than half the space
// (32768) in either direction is read as forward or backward motion and a
// wrap in the middle of reordered packets is handled too.
//
// The zero value is ready: the first number unwraps to itself (0..65535).
type seqUnwrapper struct {
	last    int64
	started bool
}

// unwrap returns the extended form of seq and makes it the new reference.
func (u *seqUnwrapper) unwrap(seq uint16) int64 {
	if !u.started {
		u.started = true
		u.last = int64(seq)
		return u.last
	}
	// The signed 16-bit difference is the shortest way round the circle.
	delta := int64(int16(seq - uint16(u.last)))
	u.last += delta
	return u.last
}

// peek returns what unwrap would return without moving the reference.
func (u *seqUnwrapper) peek(seq uint16) int64 {
	if !u.started {
		return int64(seq)
	}
	return u.last + int64(int16(seq-uint16(u.last)))
}

// reset forgets the reference; the next number starts a new space.
func (u *seqUnwrapper) reset() { *u = seqUnwrapper{} }
