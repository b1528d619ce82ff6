package zmqnotify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"time"

	"github.com/go-zeromq/zmq4"
)

// Option configures Subscribe.
type Option func(*config)

type config struct {
	minBackoff, maxBackoff time.Duration
}

// WithBackoff sets the wait before the first reconnection attempt (min,
// default 100ms); it doubles with every failed attempt up to max (default
// 10s) and starts again from min after a connection succeeds.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) {
		if min > 0 {
			c.minBackoff = min
		}
		if max >= c.minBackoff {
			c.maxBackoff = max
		}
	}
}

// CheckAddress checks a ZMQ address as Subscribe accepts it:
// tcp://HOST:PORT.
func CheckAddress(addr string) error {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != "tcp" || u.Host == "" || u.Path != "" {
		return fmt.Errorf("bad ZMQ address %q: want tcp://HOST:PORT", addr)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return fmt.Errorf("bad ZMQ address %q: %v", addr, err)
	}
	return nil
}

// Subscribe connects to the publisher at addr (tcp://HOST:PORT) and
// delivers the messages of topics, decoded, on the returned channel,
// together with gaps, connection changes and decoding errors (see Kind).
// It reconnects with backoff whenever the connection fails or is lost.
// The channel is closed after ctx is done; the caller must keep reading
// it until then (the subscriber waits for the reader, so nothing is
// dropped on this side).
func Subscribe(ctx context.Context, addr string, topics []Topic, opts ...Option) (<-chan Event, error) {
	if err := CheckAddress(addr); err != nil {
		return nil, fmt.Errorf("zmqnotify: %w", err)
	}
	if len(topics) == 0 {
		return nil, errors.New("zmqnotify: no topics")
	}
	for _, t := range topics {
		if _, err := ParseTopic(string(t)); err != nil {
			return nil, fmt.Errorf("zmqnotify: %w", err)
		}
	}
	cfg := config{minBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	s := &subscriber{addr: addr, topics: topics, cfg: cfg, out: make(chan Event)}
	go s.run(ctx)
	return s.out, nil
}

type subscriber struct {
	addr   string
	topics []Topic
	cfg    config
	out    chan Event
}

var discard = log.New(io.Discard, "", 0)

func (s *subscriber) emit(ctx context.Context, ev Event) bool {
	select {
	case s.out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *subscriber) run(ctx context.Context) {
	defer close(s.out)
	backoff := s.cfg.minBackoff
	connected := false
	for attempt := 1; ctx.Err() == nil; attempt++ {
		err := s.session(ctx, attempt, &backoff, &connected)
		if ctx.Err() != nil {
			return
		}
		if !s.emit(ctx, Event{Kind: EventDisconnected, Attempt: attempt, Backoff: backoff, Err: err}) {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		backoff = min(2*backoff, s.cfg.maxBackoff)
	}
}

// session makes one connection and reads from it until it fails.
// It sets *backoff back to the minimum and *connected once connected.
func (s *subscriber) session(ctx context.Context, attempt int, backoff *time.Duration, connected *bool) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sock := zmq4.NewSub(sctx, zmq4.WithLogger(discard), zmq4.WithDialerMaxRetries(0))
	defer sock.Close()
	for _, t := range s.topics {
		if err := sock.SetOption(zmq4.OptionSubscribe, string(t)); err != nil {
			return fmt.Errorf("subscribe %s: %w", t, err)
		}
	}
	if err := sock.Dial(s.addr); err != nil {
		return err
	}
	*backoff = s.cfg.minBackoff
	ev := Event{Kind: EventConnected, Attempt: attempt, Reconnected: *connected}
	*connected = true
	if !s.emit(ctx, ev) {
		return ctx.Err()
	}
	next := make(map[Topic]uint32) // the sequence number expected next
	for {
		msg, err := sock.Recv()
		if err != nil {
			return err
		}
		ev, _ := Decode(msg.Frames)
		// A message whose body is bad still counts in its topic's
		// sequence, when the sequence number is there to be read.
		// Unknown topics are not counted, so that a publisher cannot grow
		// the map.
		if _, known := ParseTopic(string(ev.Topic)); known == nil && len(msg.Frames) == 3 && len(msg.Frames[2]) == 4 {
			if want, seen := next[ev.Topic]; seen && ev.Seq != want {
				if !s.emit(ctx, Event{Kind: EventGap, Topic: ev.Topic, Expected: want, Seq: ev.Seq}) {
					return ctx.Err()
				}
			}
			next[ev.Topic] = ev.Seq + 1
		}
		if !s.emit(ctx, ev) {
			return ctx.Err()
		}
	}
}
