package engine

// Capability descriptors, the import and export tables, and releases.

import (
	"errors"
	"fmt"

	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"
)

// importLocked turns a received CapDescriptor into a node with one
// reference for the caller (nil for none).
func (c *Conn) importLocked(d rpccp.CapDescriptor) *node {
	switch d.Which() {
	case rpccp.CapDescriptor_Which_none:
		return nil
	case rpccp.CapDescriptor_Which_senderHosted, rpccp.CapDescriptor_Which_senderPromise:
		promise := d.Which() == rpccp.CapDescriptor_Which_senderPromise
		var id uint32
		if promise {
			id = d.SenderPromise()
		} else {
			id = d.SenderHosted()
		}
		if e := c.imports[id]; e != nil {
			e.remote++
			e.n.refs++
			return e.n
		}
		n := &node{conn: c, refs: 1, kind: kindImport, importID: id, imported: true}
		c.imports[id] = &importEntry{n: n, remote: 1, promise: promise}
		return n
	case rpccp.CapDescriptor_Which_receiverHosted:
		id := d.ReceiverHosted()
		if int(id) >= len(c.exports) || c.exports[id] == nil {
			return errNode(fmt.Sprintf("no export %d", id))
		}
		n := c.exports[id].n
		c.addRefLocked(n)
		return n
	case rpccp.CapDescriptor_Which_receiverAnswer:
		pa, err := d.ReceiverAnswer()
		if err != nil {
			return errNode("bad receiverAnswer: " + err.Error())
		}
		path, err := readTransform(pa)
		if err != nil {
			return &node{kind: kindError, err: err, refs: 1}
		}
		ans := c.answers[pa.QuestionId()]
		if ans == nil {
			return errNode(fmt.Sprintf("no answer %d", pa.QuestionId()))
		}
		n, err := c.answerCapLocked(ans, path)
		if err != nil {
			return &node{kind: kindError, err: err, refs: 1}
		}
		if n != nil {
			c.addRefLocked(n)
		}
		return n
	default:
		return &node{kind: kindError, refs: 1, err: &Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "unsupported capability descriptor"}}
	}
}

func errNode(reason string) *node {
	return &node{kind: kindError, refs: 1, err: &Exception{Type: rpccp.Exception_Type_failed, Reason: reason}}
}

// addRefLocked adds a reference to n, which is local or of c.
func (c *Conn) addRefLocked(n *node) {
	if n.conn == nil {
		n.addRef()
		return
	}
	n.refs++
}

// writeCapTable describes nodes into payload's cap table (exporting what
// needs it) and returns the export ids it sent.
func (c *Conn) writeCapTable(payload rpccp.Payload, nodes []*node) ([]uint32, error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	var tbl rpccp.CapDescriptor_List
	if payload.HasCapTable() {
		tbl, _ = payload.CapTable()
	}
	if tbl.Len() != len(nodes) {
		var err error
		if tbl, err = payload.NewCapTable(int32(len(nodes))); err != nil {
			return nil, fmt.Errorf("new cap table: %w", err)
		}
	}
	var exported []uint32
	for i, n := range nodes {
		id, ok, err := c.describeLocked(tbl.At(i), n)
		if err != nil {
			return exported, err
		}
		if ok {
			exported = append(exported, id)
		}
	}
	return exported, nil
}

// describeLocked writes the descriptor of n; it reports the export id if
// it exported n.
func (c *Conn) describeLocked(d rpccp.CapDescriptor, n *node) (uint32, bool, error) {
	for n != nil && n.conn == c && n.kind == kindResolved && !n.holding {
		n = n.target
	}
	if n == nil {
		d.SetNone()
		return 0, false, nil
	}
	if n.conn != nil && n.conn != c {
		return 0, false, errors.New("capabilities of another connection cannot be passed on yet")
	}
	if n.conn == c {
		switch n.kind {
		case kindImport:
			d.SetReceiverHosted(n.importID)
			return 0, false, nil
		case kindRemotePromise:
			pa, err := d.NewReceiverAnswer()
			if err != nil {
				return 0, false, err
			}
			return 0, false, writePromisedAnswer(pa, n.q.id, n.path)
		}
	}
	id, ok := c.exportOf[n]
	if ok {
		c.exports[id].refs++
	} else {
		c.addRefLocked(n)
		e := &exportEntry{n: n, refs: 1}
		if k := len(c.freeE); k > 0 {
			id = c.freeE[k-1]
			c.freeE = c.freeE[:k-1]
			c.exports[id] = e
		} else {
			c.exports = append(c.exports, e)
			id = uint32(len(c.exports) - 1)
		}
		c.exportOf[n] = id
	}
	if n.conn == c && (n.kind == kindLocalPromise || n.exported) {
		// A promise, or one that resolved but whose Resolve is not out
		// yet (its held calls are being delivered): the peer gets one
		// Resolve for the export.
		n.exported = true
		d.SetSenderPromise(id)
	} else {
		d.SetSenderHosted(id)
	}
	return id, true, nil
}

func writePromisedAnswer(pa rpccp.PromisedAnswer, qid uint32, path []uint16) error {
	pa.SetQuestionId(qid)
	if len(path) == 0 {
		return nil
	}
	ops, err := pa.NewTransform(int32(len(path)))
	if err != nil {
		return err
	}
	for i, f := range path {
		ops.At(i).SetGetPointerField(f)
	}
	return nil
}

func readTransform(pa rpccp.PromisedAnswer) ([]uint16, error) {
	ops, err := pa.Transform()
	if err != nil {
		return nil, &Exception{Type: rpccp.Exception_Type_failed, Reason: "bad transform: " + err.Error()}
	}
	var path []uint16
	for i := range ops.Len() {
		op := ops.At(i)
		switch op.Which() {
		case rpccp.PromisedAnswer_Op_Which_noop:
		case rpccp.PromisedAnswer_Op_Which_getPointerField:
			path = append(path, op.GetPointerField())
		default:
			return nil, &Exception{Type: rpccp.Exception_Type_unimplemented, Reason: "unknown transform op"}
		}
	}
	return path, nil
}

func equalPath(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// releaseLocked drops one reference to n (of c); references n held go to
// drop, to be released after unlocking.
func (c *Conn) releaseLocked(n *node, drop *[]*node) bool {
	n.refs--
	if n.refs > 0 {
		return false
	}
	flush := false
	if n.imported {
		if e := c.imports[n.importID]; e != nil && e.n == n {
			delete(c.imports, n.importID)
			if !c.closed {
				flush = c.sendReleaseLocked(n.importID, e.remote)
			}
		}
	}
	switch n.kind {
	case kindResolved:
		if !n.holding {
			*drop = append(*drop, n.target)
			n.target = nil
			n.kind = kindError
			n.err = errors.New("released")
		}
	case kindRemotePromise:
		if n.q != nil {
			flush = c.dropQuestionRefLocked(n.q) || flush
			for i, p := range n.q.pipes {
				if p == n {
					n.q.pipes = append(n.q.pipes[:i], n.q.pipes[i+1:]...)
					break
				}
			}
		}
	}
	return flush
}

func (c *Conn) sendReleaseLocked(id, count uint32) bool {
	return c.sendSmallLocked(rpccp.Message_Which_release, id, count)
}

func (c *Conn) handleRelease(id, count uint32) error {
	c.mu.Lock()
	var drop []*node
	err := c.releaseExportLocked(id, count, &drop)
	c.mu.Unlock()
	releaseAll(drop)
	return err
}

func (c *Conn) releaseExportLocked(id, count uint32, drop *[]*node) error {
	if int(id) >= len(c.exports) || c.exports[id] == nil {
		return fmt.Errorf("%w: release of unknown export %d", ErrProtocol, id)
	}
	e := c.exports[id]
	if count > e.refs {
		return fmt.Errorf("%w: release of export %d: %d references, %d held", ErrProtocol, id, count, e.refs)
	}
	e.refs -= count
	if e.refs == 0 {
		c.exports[id] = nil
		c.freeE = append(c.freeE, id)
		delete(c.exportOf, e.n)
		*drop = append(*drop, e.n)
	}
	return nil
}
