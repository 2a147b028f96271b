package interop

import (
	"encoding/binary"
	"os"
	"testing"
)

// writePCMUPcap writes a capture of n 20 ms PCMU RTP packets (a 400 Hz-ish
// square tone) that sipp's play_pcap_audio replays. sipp takes only the UDP
// payload and the capture timing; the addresses are rewritten to the call's.
// Generating it keeps the tests free of files from sipp's package.
func writePCMUPcap(t *testing.T, path string, n int) {
	t.Helper()
	const (
		payloadLen = 160 // 20 ms of 8 kHz G.711
		rtpLen     = 12 + payloadLen
		udpLen     = 8 + rtpLen
		ipLen      = 20 + udpLen
		frameLen   = 14 + ipLen
	)
	out := make([]byte, 0, 24+n*(16+frameLen))
	le := binary.LittleEndian
	be := binary.BigEndian
	// Global header: magic, version 2.4, zone, sigfigs, snaplen, Ethernet.
	out = le.AppendUint32(out, 0xa1b2c3d4)
	out = le.AppendUint16(out, 2)
	out = le.AppendUint16(out, 4)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint32(out, 65535)
	out = le.AppendUint32(out, 1)
	for i := range n {
		usec := uint32(i * 20000)
		out = le.AppendUint32(out, 1_700_000_000+usec/1_000_000)
		out = le.AppendUint32(out, usec%1_000_000)
		out = le.AppendUint32(out, frameLen)
		out = le.AppendUint32(out, frameLen)
		// Ethernet: dst, src, IPv4.
		out = append(out, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00)
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 2, 127, 0, 0, 1}
		be.PutUint16(ip[2:], ipLen)
		be.PutUint16(ip[10:], ipChecksum(ip))
		out = append(out, ip...)
		out = be.AppendUint16(out, 40000)
		out = be.AppendUint16(out, 30000)
		out = be.AppendUint16(out, udpLen)
		out = be.AppendUint16(out, 0) // no UDP checksum (allowed for IPv4)
		// RTP: V=2, PT 0 (PCMU), seq, timestamp, SSRC.
		out = append(out, 0x80, 0)
		out = be.AppendUint16(out, uint16(1000+i))
		out = be.AppendUint32(out, uint32(8000+i*payloadLen))
		out = be.AppendUint32(out, 0x5eed0001)
		for s := range payloadLen {
			if (s/10)%2 == 0 {
				out = append(out, 0x1f)
			} else {
				out = append(out, 0x9f)
			}
		}
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
