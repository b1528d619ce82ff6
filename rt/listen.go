package rt

import (
	"context"
	"errors"
	"net"
	"sync"
)

// Server serves Init to every connection a listener accepts, each
// connection with its own bootstrap object (libmultiprocess's
// ListenConnections).
type Server struct {
	ln        net.Listener
	bootstrap func(*Conn) *Cap
	opts      []Option
	slots     chan struct{}

	mu     sync.Mutex
	conns  map[*Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// ListenOption configures a Server.
type ListenOption func(*Server)

// MaxConnections caps simultaneous connections: while n are open, the next
// one is not accepted until one closes. 0 means no cap.
func MaxConnections(n int) ListenOption {
	return func(s *Server) {
		if n > 0 {
			s.slots = make(chan struct{}, n)
		}
	}
}

// ConnOptions applies opts to every accepted connection.
func ConnOptions(opts ...Option) ListenOption {
	return func(s *Server) { s.opts = append(s.opts, opts...) }
}

// NewServer prepares to serve bootstrap on connections from ln.
func NewServer(ln net.Listener, bootstrap func(*Conn) *Cap, opts ...ListenOption) *Server {
	s := &Server{ln: ln, bootstrap: bootstrap, conns: make(map[*Conn]struct{})}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Serve accepts connections until Close. It returns nil after Close.
func (s *Server) Serve() error {
	for {
		if s.slots != nil {
			s.slots <- struct{}{}
		}
		nc, err := s.ln.Accept()
		if err != nil {
			if s.slots != nil {
				<-s.slots
			}
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		c := Serve(nc, s.bootstrap, s.opts...)
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			<-c.Done()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			if s.slots != nil {
				<-s.slots
			}
		}()
	}
}

// Conns reports how many connections are open.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// DisconnectIncoming closes every accepted connection, and keeps
// accepting new ones.
func (s *Server) DisconnectIncoming() {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Shutdown stops accepting and waits for the open connections to end by
// themselves (their clients close them once they have their answers);
// when ctx is done first, it closes the rest as Close does. A client that
// asked the server to stop gets its answer before its connection closes.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	ended := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ended)
	}()
	select {
	case <-ended:
	case <-ctx.Done():
		s.DisconnectIncoming()
		<-ended
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Close stops accepting, closes every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	s.DisconnectIncoming()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
