// Package engine implements the two-party Cap'n Proto RPC protocol
// (rpc.capnp, level 1) for rt, shaped for libmultiprocess's thread
// model. go-capnp is only its codec: messages, segments, struct accessors
// and the generated types of rpc.capnp; none of go-capnp's rpc, server,
// flowcontrol, capnp.Client or ClientHook is used.
//
// # What the engine guarantees
//
// Wire. Frames are the standard unpacked stream framing (segment table,
// then segments), as Cap'n Proto C++'s TwoPartyVatNetwork writes them. A
// frame is read into one buffer (header and segments) and decoded in
// place; its size, segment count, traversal and depth are bounded
// (Limits). A frame that breaks them, a message that cannot be read, and
// a protocol violation (a Return, Finish, Release or Disembargo naming
// an id that does not exist, a reused question id, a Disembargo whose
// target does not point back to the sender) abort the connection with an
// Abort message. A message kind the engine does not implement is echoed
// in an Unimplemented message; a call on an export or answer that does
// not exist gets an exception Return. No input makes the engine panic.
//
// Writing. A message is written by the goroutine that produced it (a
// caller's Send, an executor's Return), except while the connection's
// reader handles a message: what is queued then, by the reader or by any
// goroutine, is written by the connection's writer goroutine, started
// with the first such frame and parked until the next. So the reader
// never waits on the peer: two peers whose readers both produce frames
// at once (a Finish, a Release, a Return of a call served inline, a
// Resolve, a Disembargo, an Unimplemented, an exception for a bad
// target) do not deadlock, whatever room the transport buffers
// (net.Pipe has none). While one goroutine writes, others queue their
// frames (without copying the segments) and return; the writing
// goroutine writes what queued in one writev before it leaves. The queue
// is bounded in bytes for new calls (Request.Send waits for room before
// it queues, even in a callback the reader runs, until a peer that reads
// drains it; SendContext gives up when its context ends); replies and
// control messages are not held back. Past a
// hard bound (Limits.MaxSendQueue), counting the calls that gave up
// waiting since the peer last read, the peer is taken as not reading and
// the connection ends (which frees the goroutine whose write the peer
// does not read). An Abort the reader sends (the peer broke the
// protocol) ends the connection once it is written; the reader reads no
// more meanwhile, and frames queued after it are dropped. Code the
// reader runs (an inline Dispatch, OnDone, OnResolved) that writes on
// another connection writes there as any goroutine does. Finish and
// Release frames are built without a capnp.Message, and read without one
// when they come in capnp's layout; outgoing messages are reused once
// written, and a Return's once the peer finished it.
//
// Limits. Besides the read limits and the send queue, a connection
// bounds the calls from the peer being served at once (past it, a call
// is answered with an overloaded exception and the connection goes on),
// the calls the peer keeps open, unfinished (past it, the connection is
// aborted), and the calls this side has open on the peer (past it, a
// call fails overloaded without being sent).
//
// Panics. A panic in a Server's Dispatch fails that call with a failed
// exception naming the method; a panic in a callback the engine runs
// (OnDone, OnResolved, Shutdown) is recovered. Neither ends the
// goroutine that delivered it, so the connection goes on.
//
// Messages. Bootstrap, Call, Return (results, exception, canceled;
// resultsSentElsewhere and the rest arrive as errors), Finish, Release,
// Resolve, Disembargo, Abort and Unimplemented. Finish is sent the moment
// the Return is processed (the results stay readable until the Answer is
// released), with releaseResultCaps false since every result capability
// was imported; an Answer released before its Return sends Finish with
// releaseResultCaps true (unless pipelined promises still need it). Calls
// from the peer after their Finish see their Call.Context canceled, and
// their late Return goes out as canceled.
//
// Capabilities. Received descriptors senderHosted, senderPromise (then
// Resolve), receiverHosted and receiverAnswer with transforms are all
// understood. A receiverAnswer naming an answer that has not returned
// yet, and a call whose target is such an answer (libmultiprocess
// pipelines makeThread and names the unreturned answer as
// context.thread), get a promise that queues the calls made on it and
// delivers them, in order, when the answer returns, before its Return is
// written. Sent descriptors: senderHosted for local capabilities,
// senderPromise (then Resolve) for a promise on one of our unreturned
// answers, receiverHosted and receiverAnswer for capabilities of the
// peer. A call on a capability of the peer that reaches us (a result we
// returned that is the peer's) is forwarded to the peer without copying
// the message.
//
// Embargoes. When a promise that carried calls through the peer (a
// pipelined result, an imported senderPromise) resolves to a capability
// of this process, later calls on it are held until a Disembargo sent
// through the peer comes back, so calls arrive in the order they were
// made. A senderLoopback Disembargo from the peer is echoed once the
// calls before it have been forwarded. A promise exported to the peer
// gets one Resolve, sent once the calls held on it when its answer
// returned are delivered, ahead of calls the peer makes on it meanwhile
// (the peer makes them until it reads the Resolve); an answer canceled
// before it returned resolves its exported promises to an exception.
//
// Reference counts. Every import is released with one Release carrying
// the number of times the peer sent it, when its last Client goes. Every
// export is dropped when the peer releases it as many times as it was
// sent, or when a Finish with releaseResultCaps covers it. A local
// capability's Server learns that its last reference went through an
// optional Shutdown method. When the connection ends, pending questions
// fail with a disconnected Exception (errors.Is(err, ErrDisconnected)),
// calls still held fail, and every import, export and answer is dropped;
// the tables are empty (Stats).
//
// Dispatch. One reader goroutine per connection decodes each message and
// hands an incoming call to its Server's Dispatch synchronously; the
// Server decides where the call runs (an executor per Thread, inline)
// and calls Call.Return once, from any goroutine. The engine starts no
// goroutine per call. Results of calls on the peer are delivered by the
// reader: Answer.Wait wakes the caller, Answer.OnDone runs a callback.
//
// Local pipelining. Calls made on a pipelined result of a call to a
// local capability do not wait for that call: they queue and are
// delivered, in order, when it returns.
//
// # Left to rt
//
// Passing a capability of one connection over another is refused (the
// call fails): rt passes a local Server that forwards each call instead
// (Client.Conn tells which connection a capability lives on, Call.Conn
// where a call came from, and Options.Owner maps a Conn back to rt's).
// Threads per connection are rt's to bound. The results kept for
// unfinished answers are bounded in number, not in bytes.
package engine
