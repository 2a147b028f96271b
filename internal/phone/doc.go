// Package phone is a scriptable SIP softphone with real RTP, used by the
// end-to-end tests and the demo to play customers, agents and supervisors.
//
// A Phone owns one sipgo user agent bound on its own loopback address and
// port. Each call (a Session) owns one UDP socket for RTP, a sender that
// plays a continuous sine tone in G.711 every 20 ms, and a receiver that
// decodes what arrives into a ring of recent samples, so a test can ask how
// loud a given frequency was in the last stretch of received audio
// (Goertzel power in dBFS). Goroutines belong to the Session and stop when
// it is hung up or closed. A SIP MESSAGE the phone receives is answered 200
// and kept for the test (Messages); SendMessage sends one.
package phone
