// Package b2bua is earshot's SIP side: a back-to-back user agent that
// anchors every call in two (or more) dialogs of its own, a registrar with
// digest authentication, the routing of calls to agents, and the legs of
// supervisors who listen to, coach, join or take over a call.
//
// # The story of a call
//
// A Server (New, Listen) serves SIP on sipgo's UDP, TCP and TLS
// transports. sipgo runs every request on its own goroutine; the handlers
// only admit, classify and translate — the state of a call has one owner.
//
//  1. An INVITE without a To tag is admitted (admit: Require, Session-Expires,
//     overload and drain), classified (classify: a trunk by source address,
//     or a digest-authenticated user; the number decides: a group, a user, a
//     trunk, or a supervision feature code) and becomes a Call (newCall),
//     filed in the live call table.
//
//  2. The Call runs its own loop (Call.run): a goroutine that executes the
//     functions posted to its mailbox one at a time. SIP handlers, media
//     timeouts, timers and the API all post to it (post, after, do); a full
//     mailbox answers 503 or, for a timer, retries. Everything of a call but
//     its snapshot is owned by that loop and needs no lock.
//
//  3. The loop's first event (Call.start) opens the call's MediaSession
//     (the Media interface; rtpengine implements it) with the caller's SDP as
//     opaque bytes, and rings: for a group it asks the Router whom to offer
//     the call to; for a user, the user's registered phones; for a trunk,
//     the trunk. Each destination is a fork, a UAC leg of its own.
//
//  4. The first fork that answers becomes the callee leg; the others are
//     canceled; the caller gets the 200 with the media session's answer and
//     retransmits it until the ACK.
//
//     Each leg's INVITE is a small state machine with its table beside it:
//     uasInvite (uas.go, uas_fsm.go) for an INVITE earshot answers — the
//     caller's, a supervisor's dial-in: provisionals (reliable ones with
//     PRACK, reliable.go), the 2xx retransmitted until the ACK matched by
//     CSeq, late offer; uacInvite (uac.go, uac_fsm.go) for one earshot
//     sends — forks to agents and carriers, a supervisor rung by the API:
//     early and confirmed dialog, PRACK, ACK (again for a retransmitted
//     2xx, reack.go, also after the call ended), CANCEL only after a
//     provisional, a 2xx after CANCEL taken down with BYE (and one from
//     another fork), resending after 401/407 or 422. The Call decides what a
//     response means for the call; the legs do the protocol.
//
//  5. In the call, requests arriving on either dialog (BYE, re-INVITE,
//     UPDATE, INFO, PRACK, OPTIONS) are matched by Call-ID and earshot's tag
//     in the dialog table (dialogs.go), checked against the dialog's peer
//     (peer.go: nobody else may act inside a dialog) and handed to the call's
//     loop; offers travel to the other leg through the media session.
//
//  6. A supervisor joins by dialling a feature code (a UAS leg, like the
//     caller's) or through the API (Server.Supervise: earshot rings the
//     supervisor, a UAC leg). The leg gets its own MediaLeg, attached in a
//     Mode; DTMF digits switch modes; an intercept promotes the
//     supervisor's leg to the callee and sends the agent BYE.
//
//  7. The call ends (Call.end): media closed, legs forgotten, agents freed in
//     the Router, observers told.
//
// # Seams
//
// b2bua imports nothing of earshot's and declares what it consumes:
//   - Media, MediaSession, MediaLeg (media.go): SDP in and out as bytes,
//     errors carrying their SIP status (StatusError).
//   - Router (router.go): where a group call goes and who is available.
//     AgentRouter (agents.go) implements ring-all, round-robin and
//     longest-idle; it owns the agents' busy and idle state.
//   - Observer (events.go): call and supervision events, for the control
//     plane's live table, statistics and audit. Observers must not block.
//   - AgentControl (agentstate.go) and HelpDesk (feature_help.go): what the
//     agents' feature codes change — agent states (the queue) and help
//     requests (the control plane).
//
// # Files
//
// server.go (handlers, shutdown), endpoint.go (listeners, the sipgo
// stack, earshot's Contact), tasks.go (goroutines no call waits on),
// invite.go (admission, classification, call creation), call.go (the
// loop), leg.go and dialog.go (a SIP dialog of a call), dialogs.go (the
// dialog table), uas*.go and uac*.go (a leg's INVITE), forks.go and
// call_setup.go (ringing, forks, answer, ACK), call_dialog.go (requests
// inside a call), reliable.go (RFC 3262), callee_timer.go (RFC 4028 toward
// the callee),
// routing.go, router.go, agents.go (routing), registrar.go, register.go,
// auth.go (registration and digest), supervision*.go (supervisors),
// feature_agent.go and feature_help.go (agents' feature codes), notify.go
// (MESSAGE notifications to users' phones), message.go (a MESSAGE sent to
// earshot),
// transfer.go (blind transfer by REFER), peer.go, security.go (who may
// act in a dialog; refusals), guard.go and guard_tcp.go (per-source
// limits), framer.go (SIP over TCP/TLS split into messages and checked
// before the stack reads them: 400, 505), badrequest.go (400 to what the
// stack cannot parse over UDP), checks.go (RFC 3261 §8.2 checks), mode.go,
// errors.go, events.go, stats.go.
//
// # Locks
//
// Server.mu guards the call and supervision tables and the listeners; it
// is held briefly and never while calling out. The dialog table has locks
// of its own, one per shard of its keys (dialogs.go): every in-dialog
// request looks it up. The Router, the registrar and the statistics have
// their own locks; none of them calls back into the Server. A call's own
// state is owned by its loop.
package b2bua
