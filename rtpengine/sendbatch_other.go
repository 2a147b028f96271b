//go:build !linux || 386

package rtpengine

import (
	"errors"
	"log/slog"
	"net/netip"
)

// sendBatch is io_uring's batching of the mixer's sends (sendbatch_linux.go),
// which exists only on Linux: elsewhere no batch is ever made.
type sendBatch struct{}

func newSendBatch(*slog.Logger) (*sendBatch, error) {
	return nil, errors.New("io_uring is Linux only")
}

func (*sendBatch) add(*udpSock, *outStream, []byte, netip.AddrPort, *Session, Party, bool) error {
	return errors.New("io_uring is Linux only")
}

func (*sendBatch) flush() {}
func (*sendBatch) close() {}
