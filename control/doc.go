// Package control is earshot's control plane: the REST API under /api/v1
// (bearer-token auth, roles and tenants from the token, RFC 9457 errors),
// help requests, supervision commands, notes, audit, live statistics and
// reports, the Server-Sent Events stream, the OpenAPI document, and the
// bbolt store behind them (layout in docs/storage.md).
//
// Ownership and concurrency. A Service owns its database, its event
// worker, its retention pruner and its stream hub; Close stops the
// goroutines, waits for them, ends every stream and closes the database.
//
//   - HTTP handlers run on the server's goroutines. Every state change
//     and its audit record are one bbolt read-write transaction, committed
//     and fsynced before the response is written. bbolt serialises writers,
//     and each transaction re-reads what it checks, so of concurrent
//     conflicting actions (two accepts) exactly one wins.
//   - The b2bua.Observer callbacks (CallEvent, SupervisionEvent) only put
//     the event on a bounded queue; a full queue drops and counts. One
//     worker goroutine drains it in batches, one transaction per batch
//     (what arrives within batchWindow of the first event, busyWindow
//     after a batch of busyBatch or more; none for a batch that writes
//     nothing): call history, help requests closed by a
//     call's end, supervision audit and history, and the accept of a help
//     request by a supervisor who dialled a supervision code. SIP
//     goroutines never wait for the disk, but for one: the handler of an
//     agent's help feature code (OpenHelp, EndHelp: b2bua.HelpDesk), whose
//     confirmation to the phone means the step is committed, as an API
//     response does (phone.go).
//   - After a commit, the people a help request's step or a note concerns
//     are told on their phones through the Notifier, which does not
//     block.
//   - In-memory state is small and guarded: the active help request per
//     call (Service.mu, for the call list's flag), the last hour of call
//     outcomes (history.mu), live supervision segments (supTracker.mu),
//     the stream subscribers (hub.mu) and the encoded calls of the call
//     list (callJSONCache.mu, a cache that is used only while a call's
//     snapshot is unchanged, so the Switchboard stays the only truth).
//     Memory is updated after the commit it mirrors. No lock is held while
//     calling the Switchboard.
//   - The hub never blocks a publisher: each subscriber has a bounded
//     buffer and is disconnected when it falls behind.
//
// Metrics are plain atomic counters read by Stats at scrape time; the
// package registers nothing anywhere.
package control
