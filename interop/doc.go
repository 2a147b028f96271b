// Package interop drives a built earshot binary with real SIP peers — sipp
// and baresip — over loopback sockets. It holds tests only.
//
// Each test builds earshot, starts it as a child process with its own
// config (its own SIP/HTTP ports and RTP range), runs the peers as child
// processes, and reads the verdict from the peers' exit codes and
// statistics and from earshot's /metrics. Every child process is owned by
// the test that started it and is stopped and waited for in t.Cleanup, so a
// failing test leaves nothing running.
//
// Registration: sipp agents register themselves before they answer calls
// (testdata/agent_register.xml answers earshot's MD5 digest challenge, then
// the answering sipp starts on the same address). baresip 1.0 cannot: it
// fails a REGISTER whose 401 offers any algorithm besides MD5, and earshot
// offers SHA-256 too, so the baresip test registers baresip's address on
// its behalf.
//
// Addresses: earshot listens on 127.0.0.1, the carrier trunk is 127.0.0.2
// (as in the demo config), sipp agents use 127.0.0.3 and up. baresip sits
// on 127.0.0.1: its RTP socket is bound to the wildcard address, so its
// packets leave from 127.0.0.1 whatever address its SDP and SIP use, and
// earshot's latching rightly refuses media from an address neither names
// (rtpengine/latch.go). The peers are not
// optional: when sipp or baresip is missing the tests fail and say that
// `make deps` installs them.
package interop
