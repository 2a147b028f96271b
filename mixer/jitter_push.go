package mixer

import "time"

// Push hands the buffer one received RTP packet: its payload (copied, so the
// caller may reuse its read buffer at once), header fields, and the time it
// arrived. Payloads longer than a frame are cut to FrameSamples bytes and
// shorter ones are padded with silence: the mixer expects 20 ms packets.
func (j *JitterBuffer) Push(payload []byte, seq uint16, ts, ssrc uint32, marker bool, arrival time.Time) {
	if j.started && ssrc != j.ssrc {
		// A new source (a transfer, a re-INVITE, a restarted phone) has
		// its own numbering and clock: nothing of the old one applies.
		j.stats.SSRCChanges++
		j.restart()
	}
	if !j.started {
		j.begin(payload, seq, ts, ssrc, arrival)
		return
	}
	ext := j.unwrap.peek(seq)
	if ext < j.next-ringSize || ext >= j.next+ringSize {
		j.far(payload, seq, ts, ext, arrival)
		return
	}
	j.farRun = 0
	s := &j.ring[ext&ringMask]
	if s.ext == ext && s.state != slotEmpty {
		j.stats.Duplicate++
		return
	}
	j.est.update(ts, arrival)
	if ext < j.next {
		j.stats.Late++
		// Reordering deeper than the buffer: ask for more delay. The
		// boost decays again in Pop once late packets stop.
		j.lateBoost = min(j.lateBoost+1, j.maxFrames)
		j.sinceLate = 0
		return
	}
	// A marker on the first packet after the buffer ran dry starts a
	// talkspurt: the gap before it was silence, not loss, so playout can
	// restart at the current target delay instead of carrying the old one.
	talkspurt := marker && j.playing && j.highest < j.next && ext > j.highest
	switch {
	case ext < j.highest:
		j.stats.Reordered++
	case ext > j.highest:
		j.unwrap.unwrap(seq)
		j.highest = ext
	}
	j.store(s, ext, payload)
	if talkspurt {
		j.playing = false
		j.next = ext
		j.prefetch = arrival
	}
}

// begin starts a stream with its first packet, after New or a reset.
func (j *JitterBuffer) begin(payload []byte, seq uint16, ts, ssrc uint32, arrival time.Time) {
	j.started = true
	j.ssrc = ssrc
	ext := j.unwrap.unwrap(seq)
	j.next, j.highest = ext, ext
	j.prefetch = arrival
	j.est.update(ts, arrival)
	j.store(&j.ring[ext&ringMask], ext, payload)
}

// far handles a packet whose number is a whole ring away from playout. One
// such packet is a stray (or a very late one) and is dropped; a second one
// close to the first means the sender jumped its sequence numbers without
// changing SSRC, and the buffer restarts at the new numbering.
func (j *JitterBuffer) far(payload []byte, seq uint16, ts uint32, ext int64, arrival time.Time) {
	if j.farRun > 0 && ext-j.farExt < ringSize && j.farExt-ext < ringSize {
		j.stats.Resyncs++
		ssrc := j.ssrc
		j.restart()
		j.begin(payload, seq, ts, ssrc, arrival)
		return
	}
	j.farRun++
	j.farExt = ext
	if ext > j.next {
		j.stats.DroppedOverflow++
	} else {
		j.stats.Late++
	}
}

// store copies payload into s as number ext.
func (j *JitterBuffer) store(s *slot, ext int64, payload []byte) {
	s.ext = ext
	s.state = slotReady
	s.n = uint8(copy(s.payload[:], payload))
}
