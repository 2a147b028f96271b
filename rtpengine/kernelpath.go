package rtpengine

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/earshot/earshot/rtpengine/kernel"
)

// The in-kernel relay (package kernel) is one more sender of an output
// stream, beside the relay reader and the mixer's sink: while it feeds a
// stream, the kernel forwards the other leg's RTP on it and userspace
// sees none of those packets. The hand-overs keep the stream continuous
// because the kernel maps packets with the stream's own offsets and
// returns its state when it gives the stream back.
//
// A stream goes to the kernel when the relay has sent kernelCalm packets
// on it in a row without a re-base, the call is not mixed or the mixer
// bypasses the stream's leg (a listened call, see markBypass), neither
// leg is WebRTC, the sending leg's peer is latched and both peers are
// IPv4. For a listened call the entry also copies every packet it
// forwards to the taps ring, from which readTaps feeds the sending leg's
// audio to the mixer: the supervisor hears both parties while neither
// party's packets wake the process. The listening supervisor's own audio,
// which nobody hears, the kernel drops (dropListener), so a listened call
// costs the process one mixed frame per tick. The
// relay reader installs the entry itself, right after sending a packet,
// so nothing it has queued can overtake the kernel's packets.
//
// It comes back to userspace when:
//   - a packet for it reaches the socket and is accepted: the kernel left
//     it alone because it did not match (a telephone-event, a new SSRC, a
//     jump, a new source that latched), or found no route. The reader
//     takes the stream back before handling that packet.
//   - the session starts mixing (a supervisor, a playback, different
//     codecs), the mixer stops bypassing the stream's leg (a mode change,
//     a cue), the mix ends (a copying entry becomes a plain one), a
//     leg's SDP changes, or the session closes.
//
// The kernel's counters are added to the session's when the engine reads
// them (Stats, the media-timeout check) and when the stream comes back;
// packets it forwarded count as life for the media timeout.

// kernelCalm is how many packets in a row the relay sends on a stream
// without a re-base before handing it to the kernel: one second of 20 ms
// packets. A stream that keeps changing (a DTMF event, a phone that
// re-bases) stays in userspace instead of going back and forth.
const kernelCalm = 50

// kernelFeed is an output stream's in-kernel state. Guarded by the
// stream's mutex, but for on, which the packet path reads without it.
type kernelFeed struct {
	on      atomic.Bool     // an entry feeds the stream
	local   netip.AddrPort  // the entry's key: the feeding leg's RTP socket
	folded  kernel.Counters // the entry's counters already added to the session's
	calm    int             // packets the relay sent in a row without a re-base
	noRoute bool            // the kernel found no route once: userspace keeps the stream
}

// openKernel loads the in-kernel relay as cfg asks. With KernelAuto a
// failure is logged and kept in Stats; with KernelOn it is returned.
func (e *Engine) openKernel() error {
	if e.cfg.KernelRelay == KernelOff {
		return nil
	}
	var err error
	if bind := e.cfg.BindAddr; !bind.Is4() || bind.IsUnspecified() {
		err = kernelErr("the media address must be one IPv4 address, not " + bind.String())
	} else {
		e.kern, err = kernel.Open(kernel.Config{Interfaces: e.cfg.KernelInterfaces, BindAddr: bind})
	}
	if err == nil {
		e.log.Info("in-kernel relay on", "interfaces", e.kern.Interfaces())
		e.tapLegs = new([1 << 16]atomic.Pointer[leg])
		e.tapsDone = make(chan struct{})
		e.tapWake, e.tapsQuit = make(chan struct{}, 1), make(chan struct{})
		go e.readTaps()
		return nil
	}
	if e.cfg.KernelRelay == KernelOn {
		return err
	}
	e.kernWhy = err.Error()
	e.log.Warn("in-kernel relay unavailable: relaying in userspace", "err", err)
	return nil
}

// tapPoll is how often readTaps drains the taps ring. The kernel does not
// wake the reader per packet (that would cost what a socket read costs);
// a few milliseconds of delay before a copy reaches its jitter buffer is
// well inside the mixer's 20 ms tick.
const tapPoll = 4 * time.Millisecond

// readTaps hands the copies of kernel-forwarded packets of listened calls
// (Route.Tap) to their legs' mixer inputs, until the relay closes.
func (e *Engine) readTaps() {
	defer close(e.tapsDone)
	taps := e.kern.Taps()
	deliver := func(port uint16, pkt []byte) {
		if l := e.tapLegs[port].Load(); l != nil {
			l.sess.onTap(l, pkt)
		} else {
			e.tapStray.Add(1)
		}
	}
	for {
		if e.tapped.Load() == 0 {
			// No leg is tapped: polling the ring every few
			// milliseconds would be a wake-up and a system call each
			// time for nothing. Sleep until a tap is set.
			select {
			case <-e.tapWake:
			case <-e.tapsQuit:
				return
			}
			continue
		}
		e.tapDrains.Add(1)
		if _, err := taps.Drain(deliver); err != nil {
			if !errors.Is(err, kernel.ErrClosed) {
				e.log.Error("in-kernel relay: taps ring failed: listened calls' parties go silent for their supervisors", "err", err)
			}
			return
		}
		time.Sleep(tapPoll)
	}
}

// onTap is the packet path of a copy of a packet the kernel forwarded from
// in's peer: in's audio for the mix, nothing else (the kernel relayed it,
// and forwards nothing but the audio payload type).
func (s *Session) onTap(in *leg, pkt []byte) {
	if !validRTP(pkt) {
		s.counters.dropMalformed.Add(1)
		return
	}
	if in.mixLeg.Load() != nil && int(pkt[1]&0x7f) == in.media.Load().audioPT {
		s.push(in, pkt)
	}
}

// closeKernel detaches and frees the in-kernel relay, if loaded.
func (e *Engine) closeKernel() {
	if e.kern != nil {
		close(e.tapsQuit) // the taps reader, if asleep
		if err := e.kern.Close(); err != nil {
			e.log.Warn("in-kernel relay: close", "err", err)
		}
	}
}

// kernelErr is a reason the engine itself finds for not loading the relay.
type kernelErr string

func (k kernelErr) Error() string { return kernel.ErrUnsupported.Error() + ": " + string(k) }
func (k kernelErr) Unwrap() error { return kernel.ErrUnsupported }

// toKernelClock and fromKernelClock convert between the engine clock and
// the kernel's (kernel.Now) at the moment of the call.
func (e *Engine) toKernelClock(t int64) int64   { return kernel.Now() - (e.nanotime() - t) }
func (e *Engine) fromKernelClock(t int64) int64 { return e.nanotime() - (kernel.Now() - t) }

// maybeOffload hands the stream of out, fed by in, to the kernel when it
// qualifies (see above). The relay reader calls it, when the engine has
// the in-kernel relay, after sending a packet of payload type pt on out,
// with out's stream still locked.
func (s *Session) maybeOffload(in, out *leg, m *legMedia, pt int, rebased bool, rates *clockRates) {
	o := out.out
	k := &o.kern
	if rebased || pt != m.audioPT {
		k.calm = 0
		return
	}
	if k.calm++; k.calm < kernelCalm || k.noRoute || o.mixed {
		return
	}
	// A mixed call's stream goes to the kernel only where the mixer
	// bypasses out (a listened call): the kernel then copies in's audio
	// to the taps ring for the mix (readTaps).
	tap := s.mixed.Load()
	if tap && (!out.bypassed.Load() || in.mixLeg.Load() == nil) {
		return
	}
	if s.closing.Load() || in.wrtc.Load() != nil || out.wrtc.Load() != nil {
		return
	}
	from, to := in.rtp.dest.Load(), out.rtp.dest.Load()
	if from == nil || !from.latched || to == nil || !from.addr.Addr().Is4() || !to.addr.Addr().Is4() {
		return
	}
	if queued(in.rtp.conn) {
		// The reader is behind: the packets queued must be relayed
		// before the kernel forwards newer ones. The receive loop reads
		// them now (catchUp) and this is tried again with the last: left
		// to the next round of the loop, a reader that stays behind — a
		// loaded machine, the very case the kernel relieves — would find
		// a packet queued every time and never hand the stream over.
		in.catchUp = true
		return
	}
	bind := s.eng.cfg.BindAddr
	local := netip.AddrPortFrom(bind, in.port)
	rt := kernel.Route{
		From: from.addr, Out: netip.AddrPortFrom(bind, out.port), To: to.addr,
		PT: uint8(pt), SSRC: o.ssrc, Rate: rates.rate(uint8(pt)), Tap: tap,
	}
	st := kernel.State{
		InSSRC: o.inSSRC, InSeq: o.inSeq, InTS: o.inTs, InNanos: s.eng.toKernelClock(o.inNanos),
		SeqOffset: o.seqOffset, TSOffset: o.tsOffset,
		OutSeq: o.outSeq, OutTS: o.outTs, OutNanos: s.eng.toKernelClock(o.outNanos),
	}
	if tap && s.eng.tapLegs[in.port].Swap(in) == nil {
		s.eng.tapped.Add(1)
		select {
		case s.eng.tapWake <- struct{}{}:
		default: // the reader has a wake-up pending already
		}
	}
	if err := s.eng.kern.Install(local, rt, st); err != nil {
		s.log.Warn("in-kernel relay: install", "err", err)
		k.calm = 0 // try again in a second
		return
	}
	k.local, k.folded = local, kernel.Counters{}
	k.on.Store(true)
	s.eng.kernStreams.Add(1)
	s.eng.kernOffloads.Add(1)
	if queued(in.rtp.conn) {
		// A packet slipped in before the entry took effect: the kernel
		// must not forward anything newer before it is relayed.
		s.reclaimLocked(out, partyOf(s.pair.Load(), out))
	}
}

// reclaim takes the stream of out back from the kernel, if it feeds it:
// the entry is removed, its state becomes the stream's and its counters
// are added to the session's. Caller holds out's stream lock.
func (s *Session) reclaimLocked(out *leg, to Party) {
	o := out.out
	k := &o.kern
	if !k.on.Load() {
		return
	}
	k.on.Store(false)
	k.calm = 0 // a second of calm again before the kernel takes it back
	s.eng.kernStreams.Add(-1)
	s.eng.kernReturns.Add(1)
	st, c, ok, err := s.eng.kern.Remove(k.local)
	if err != nil || !ok {
		// Nothing to continue from: the next packet re-bases, which
		// costs a marker bit and one frame's step, never a duplicate.
		s.log.Warn("in-kernel relay: remove", "err", err, "found", ok)
		o.rebase = true
		return
	}
	o.inSSRC, o.inSeq, o.inTs, o.inNanos = st.InSSRC, st.InSeq, st.InTS, s.eng.fromKernelClock(st.InNanos)
	o.seqOffset, o.tsOffset = st.SeqOffset, st.TSOffset
	o.outSeq, o.outTs, o.outNanos = st.OutSeq, st.OutTS, s.eng.fromKernelClock(st.OutNanos)
	if c.Fallbacks > 0 {
		k.noRoute = true
		s.eng.kernNoRoute.Add(c.Fallbacks)
	}
	s.foldLocked(k, c, to)
}

// kernelHeard brings in's record of when its peer was last heard up to
// date with what the kernel forwarded from it, so that latching decides
// on it (a NAT rebinding needs a second of silence from the latched peer,
// see latch.go). The reader of in's socket calls it before acceptRTP.
func (s *Session) kernelHeard(in *leg) {
	out := otherOf(s.pair.Load(), in)
	if out == nil {
		return
	}
	o := out.out
	if !o.kern.on.Load() {
		return
	}
	o.mu.Lock()
	if o.kern.on.Load() {
		if st, c, ok, err := s.eng.kern.Read(o.kern.local); err == nil && ok && c.Packets > 0 {
			in.rtp.heard = max(in.rtp.heard, s.eng.fromKernelClock(st.InNanos))
		}
	}
	o.mu.Unlock()
}

// reclaim is reclaimLocked taking out's stream lock.
func (s *Session) reclaim(out *leg) {
	if !out.out.kern.on.Load() {
		return
	}
	out.out.mu.Lock()
	s.reclaimLocked(out, partyOf(s.pair.Load(), out))
	out.out.mu.Unlock()
}

// reclaimAll takes both of the pair's streams back from the kernel.
func (s *Session) reclaimAll() {
	if s.eng.kern == nil {
		return
	}
	for _, l := range s.pair.Load() {
		s.reclaim(l)
	}
}

// foldLocked adds what the kernel forwarded since the last fold to the
// session's counters. Caller holds the stream's lock.
func (s *Session) foldLocked(k *kernelFeed, c kernel.Counters, to Party) (packets uint64) {
	dp, db := c.Packets-k.folded.Packets, c.Bytes-k.folded.Bytes
	s.eng.kernTapLost.Add(c.TapLost - k.folded.TapLost)
	k.folded = c
	if dp == 0 {
		return 0
	}
	s.counters.rtpPackets[to].Add(dp)
	s.counters.bytes[to].Add(db)
	s.counters.kernPackets.Add(dp)
	s.counters.kernBytes.Add(db)
	return dp
}

// readKernel adds the kernel's counters of the session's streams to its
// own and, where the kernel forwarded packets since the last read, marks
// the feeding leg alive at now (the media timeout).
func (s *Session) readKernel(now int64) {
	pair := s.pair.Load()
	for i, out := range pair {
		o := out.out
		if !o.kern.on.Load() {
			continue
		}
		o.mu.Lock()
		if o.kern.on.Load() {
			_, c, ok, err := s.eng.kern.Read(o.kern.local)
			if err == nil && ok && s.foldLocked(&o.kern, c, partyOf(pair, out)) > 0 {
				pair[1-i].lastRecv.Store(now)
			}
		}
		o.mu.Unlock()
	}
	for _, l := range *s.all.Load() {
		d := &l.drop
		if !d.on.Load() {
			continue
		}
		d.mu.Lock()
		if d.on.Load() {
			if _, c, ok, err := s.eng.kern.Read(d.local); err == nil && ok {
				s.foldDropLocked(d, c)
			}
		}
		d.mu.Unlock()
	}
}

// readKernel reads the kernel's counters of every session (see
// Session.readKernel).
func (e *Engine) readKernel(now int64) {
	if e.kern == nil || e.kernStreams.Load() == 0 {
		return
	}
	e.mu.Lock()
	sessions := make([]*Session, 0, len(e.sessions))
	for s := range e.sessions {
		sessions = append(sessions, s)
	}
	e.mu.Unlock()
	for _, s := range sessions {
		s.readKernel(now)
	}
}

// kernelStats fills st.Kernel's engine-wide fields.
func (e *Engine) kernelStats(st *Stats) {
	st.Kernel.Enabled = e.kern != nil
	st.Kernel.Unavailable = e.kernWhy
	if e.kern != nil {
		st.Kernel.Interfaces = e.kern.Interfaces()
	}
	st.Kernel.Streams = int(e.kernStreams.Load())
	st.Kernel.Offloads = e.kernOffloads.Load()
	st.Kernel.Returns = e.kernReturns.Load()
	st.Kernel.NoRoute = e.kernNoRoute.Load()
	st.Kernel.TapLost = e.kernTapLost.Load()
	st.Kernel.TapStray = e.tapStray.Load()
	st.Kernel.ListenerDropped = e.kernListener.Load()
}

// kernelDrop is a listening supervisor leg's in-kernel drop entry: nobody
// hears a listener, so the kernel discards its audio instead of waking
// the process for it (its key presses still reach the socket). mu
// serialises installing and removing; on is read without it.
type kernelDrop struct {
	mu     sync.Mutex
	on     atomic.Bool
	local  netip.AddrPort
	folded kernel.Counters
}

// dropListener hands the audio of l, a listening supervisor whose peer is
// latched, to the kernel to drop. The packet path calls it after pushing
// an audio packet of payload type pt.
func (s *Session) dropListener(l *leg, pt int) {
	from := l.rtp.dest.Load()
	if from == nil || !from.latched || !from.addr.Addr().Is4() || l.wrtc.Load() != nil || s.closing.Load() {
		return
	}
	d := &l.drop
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.on.Load() || !l.listening.Load() {
		return
	}
	local := netip.AddrPortFrom(s.eng.cfg.BindAddr, l.port)
	if err := s.eng.kern.InstallDrop(local, from.addr, uint8(pt)); err != nil {
		s.log.Warn("in-kernel relay: drop a listener's audio", "err", err)
		return
	}
	d.local, d.folded = local, kernel.Counters{}
	d.on.Store(true)
	if !l.listening.Load() {
		// The mode changed while the entry went in.
		s.undropLocked(l)
	}
}

// undrop removes l's drop entry, if any, so that its audio reaches the
// mixer again.
func (s *Session) undrop(l *leg) {
	if !l.drop.on.Load() {
		return
	}
	l.drop.mu.Lock()
	s.undropLocked(l)
	l.drop.mu.Unlock()
}

func (s *Session) undropLocked(l *leg) {
	d := &l.drop
	if !d.on.Load() {
		return
	}
	d.on.Store(false)
	_, c, ok, err := s.eng.kern.Remove(d.local)
	if err != nil || !ok {
		s.log.Warn("in-kernel relay: remove a listener's drop", "err", err, "found", ok)
		return
	}
	s.foldDropLocked(d, c)
}

// foldDropLocked counts what the kernel dropped since the last fold.
// Caller holds d.mu.
func (s *Session) foldDropLocked(d *kernelDrop, c kernel.Counters) {
	s.eng.kernListener.Add(c.Packets - d.folded.Packets)
	d.folded = c
}

// dropHeard is kernelHeard for a listening supervisor's leg.
func (s *Session) dropHeard(l *leg) {
	d := &l.drop
	if !d.on.Load() {
		return
	}
	d.mu.Lock()
	if d.on.Load() {
		if st, c, ok, err := s.eng.kern.Read(d.local); err == nil && ok && c.Packets > 0 {
			l.rtp.heard = max(l.rtp.heard, s.eng.fromKernelClock(st.InNanos))
		}
	}
	d.mu.Unlock()
}
