package b2bua

import (
	"github.com/emiago/sipgo/sip"
)

// dialog is the state of one SIP dialog earshot is a party of (RFC 3261
// §12): enough to build in-dialog requests. Each leg of a call owns one and
// only the call's loop touches it. Nothing of the other leg's dialog is ever
// copied into it: that is the topology hiding.
type dialog struct {
	callID    string
	localTag  string
	remoteTag string
	local     sip.Uri
	localName string
	remote    sip.Uri
	remoteNm  string
	localSeq  uint32
	remoteSeq uint32
	// target is the remote Contact; routes the route set.
	target    sip.Uri
	routes    []sip.Uri
	transport string
	// dest, when set, is where requests go regardless of target: the
	// source address a registered phone or a trunk reached us from.
	dest string
	// peers may send requests inside the dialog; any other source is
	// refused (see peerSet).
	peers peerSet
}

// key identifies the dialog for requests the remote side sends us: their
// Call-ID and the tag they put in To, which is ours.
func (d *dialog) key() string { return d.callID + "|" + d.localTag }

// fromRemote reports whether req, matched to the dialog by its Call-ID and
// the tag earshot chose, also carries the peer's tag in From. A dialog
// without a remote tag yet (a callee that answered untagged) takes any.
func (d *dialog) fromRemote(req *sip.Request) bool {
	if d.remoteTag == "" {
		return true
	}
	from := req.From()
	if from == nil {
		return false
	}
	tag, _ := from.Params.Get("tag")
	return tag == d.remoteTag
}

func dialogKey(req *sip.Request) string {
	cid := req.CallID()
	to := req.To()
	if cid == nil || to == nil {
		return ""
	}
	tag, _ := to.Params.Get("tag")
	return cid.Value() + "|" + tag
}

// newRequest builds an in-dialog request. CSeq increments except for ACK
// and CANCEL, which reuse the INVITE's number.
func (d *dialog) newRequest(method sip.RequestMethod, contact *sip.ContactHeader) *sip.Request {
	req := sip.NewRequest(method, *d.target.Clone())
	from := &sip.FromHeader{DisplayName: d.localName, Address: *d.local.Clone(), Params: sip.NewParams()}
	from.Params.Add("tag", d.localTag)
	to := &sip.ToHeader{DisplayName: d.remoteNm, Address: *d.remote.Clone(), Params: sip.NewParams()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	cid := sip.CallIDHeader(d.callID)
	if method != sip.ACK && method != sip.CANCEL {
		d.localSeq++
	}
	maxFwd := sip.MaxForwardsHeader(maxForwards)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.localSeq, MethodName: method})
	req.AppendHeader(&maxFwd)
	for _, r := range d.routes {
		req.AppendHeader(&sip.RouteHeader{Address: r})
	}
	if contact != nil {
		req.AppendHeader(contact.Clone())
	}
	req.SetTransport(d.transport)
	if d.dest != "" {
		req.SetDestination(d.dest)
	} else if len(d.routes) > 0 {
		req.SetDestination(d.routes[0].HostPort())
	}
	return req
}

// uasDialog builds the dialog of a leg that called earshot, from its INVITE
// and the tag earshot chose.
func uasDialog(req *sip.Request, localTag string) dialog {
	from, to := req.From(), req.To()
	d := dialog{
		callID:    req.CallID().Value(),
		localTag:  localTag,
		local:     *to.Address.Clone(),
		localName: to.DisplayName,
		remote:    *from.Address.Clone(),
		remoteNm:  from.DisplayName,
		transport: req.Transport(),
		dest:      req.Source(),
	}
	d.remoteTag, _ = from.Params.Get("tag")
	d.peers.add(req.Source())
	if cs := req.CSeq(); cs != nil {
		d.remoteSeq = cs.SeqNo
	}
	if c := req.Contact(); c != nil {
		d.target = *c.Address.Clone()
	} else {
		d.target = *from.Address.Clone()
	}
	for _, h := range req.GetHeaders("Record-Route") {
		var u sip.Uri
		params := sip.NewParams()
		if _, err := sip.ParseAddressValue(h.Value(), &u, &params); err == nil {
			d.routes = append(d.routes, u)
		}
	}
	if len(d.routes) > 0 {
		d.dest = ""
	}
	return d
}

// confirm completes a UAC dialog from a response that carries a To tag:
// remote tag, target and route set (reversed Record-Route, §12.1.2).
func (d *dialog) confirm(res *sip.Response) {
	d.peers.add(res.Source())
	if to := res.To(); to != nil {
		d.remoteTag, _ = to.Params.Get("tag")
	}
	if c := res.Contact(); c != nil {
		d.target = *c.Address.Clone()
	}
	rrs := res.GetHeaders("Record-Route")
	d.routes = d.routes[:0]
	for i := len(rrs) - 1; i >= 0; i-- {
		var u sip.Uri
		params := sip.NewParams()
		if _, err := sip.ParseAddressValue(rrs[i].Value(), &u, &params); err == nil {
			d.routes = append(d.routes, u)
		}
	}
	if len(d.routes) > 0 {
		d.dest = ""
	}
}
