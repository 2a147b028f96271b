package b2bua

import (
	"context"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// earshot tells users on their phones what happened to a help request or
// that a supervisor wrote to them, with a SIP MESSAGE (RFC 3428) of
// text/plain to every phone the user has registered. The request is out
// of any dialog: From is earshot's service address in the user's tenant
// (sip:earshot@domain), To the user's address of record, the Request-URI
// each registered contact. Nothing waits for the answers; a send error,
// a timeout or a final response other than 2xx counts as failed.

// notifyUser is the user part of the address earshot's notifications come
// from.
const notifyUser = "earshot"

// maxNotifyBytes bounds a notification's body: a MESSAGE is meant to fit
// in one UDP datagram (RFC 3428 §8: 1300 bytes with the headers), so
// longer text is cut at a character boundary and ends with "…".
const maxNotifyBytes = 1000

// notifyStats counts notifications, one per contact.
type notifyStats struct {
	sent, failed atomic.Uint64
}

// Notify sends text to every registered phone of user ext of tenant as a
// SIP MESSAGE and returns how many phones it went to (0: not registered).
// It does not block on the network.
func (s *Server) Notify(tenant, ext, text string) int {
	td := s.dir.tenants[tenant]
	if td == nil {
		return 0
	}
	u := td.users[ext]
	if u == nil {
		return 0
	}
	targets := s.userTargets(tenant, ext)
	body := []byte(clip(text, maxNotifyBytes))
	for _, t := range targets {
		s.sendNotify(s.notifyRequest(td, u, t, body))
	}
	return len(targets)
}

// notifyRequest builds the MESSAGE for one registered contact.
func (s *Server) notifyRequest(td *tenantDir, u *User, t target, body []byte) *sip.Request {
	transport := t.transport
	if transport == "" {
		transport = "UDP"
	}
	host := s.contact(transport).Address.Host
	if len(td.domains) > 0 {
		host = td.domains[0]
	}
	req := sip.NewRequest(sip.MESSAGE, *t.uri.Clone())
	from := &sip.FromHeader{DisplayName: "earshot", Address: sip.Uri{Scheme: "sip", User: notifyUser, Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: u.Extension, Host: host}, Params: sip.NewParams()}
	cid := sip.CallIDHeader(uuid.NewString())
	maxFwd := sip.MaxForwardsHeader(maxForwards)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.MESSAGE})
	req.AppendHeader(&maxFwd)
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=utf-8"))
	req.SetBody(body)
	req.SetTransport(transport)
	req.SetDestination(t.dest)
	return req
}

// sendNotify sends one MESSAGE and counts its outcome on a goroutine that
// Close stops.
func (s *Server) sendNotify(req *sip.Request) {
	s.stats.sent(string(req.Method))
	s.sip.bindLocal(req)
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	tx, err := s.sip.cli.TransactionRequest(ctx, req)
	if err != nil {
		cancel()
		s.notify.failed.Add(1)
		s.log.Debug("message failed", "err", err)
		return
	}
	started := s.bg.goFn(func(stop context.Context) {
		defer cancel()
		defer tx.Terminate()
		for {
			select {
			case res := <-tx.Responses():
				if res.StatusCode < 200 {
					continue
				}
				if res.StatusCode < 300 {
					s.notify.sent.Add(1)
				} else {
					s.notify.failed.Add(1)
					s.log.Debug("message refused", "status", res.StatusCode)
				}
				return
			case <-tx.Done():
				s.notify.failed.Add(1)
				return
			case <-ctx.Done():
				s.notify.failed.Add(1)
				return
			case <-stop.Done():
				return
			}
		}
	})
	if !started {
		cancel()
		tx.Terminate()
	}
}

// clip cuts s to at most max bytes at a character boundary, marking the
// cut with "…".
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const more = "…"
	cut := max - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " ") + more
}
