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
// Addresses: earshot listens on 127.0.0.1, the carrier trunk is 127.0.0.2
// (as in the demo config), agents use 127.0.0.3 and up. The peers are not
// optional: when sipp or baresip is missing the tests fail and say that
// `make deps` installs them.
package interop
