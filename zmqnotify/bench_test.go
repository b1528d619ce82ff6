package zmqnotify

import (
	"context"
	"encoding/binary"
	"io"
	"log"
	"net"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/go-zeromq/zmq4"
)

// benchPair is a publisher and a reader of its hashblock messages: the
// subscriber of this package ("zmqnotify"), a bare zmq4 SUB socket
// ("zmq4": no decoding, no sequence checks), or a TCP connection that
// carries the same bytes as ZMTP frames, read with io.ReadFull
// ("socket": the floor, no ZMQ at all).
type benchPair struct {
	pub  zmq4.Socket
	send func(body []byte, seq uint32) error
	recv func() (seq uint32, ok bool)
	stop func()
}

var benchReaders = []string{"zmqnotify", "zmq4", "socket"}

// zmtpFrames is a message as ZMTP puts it on the wire (short frames).
func zmtpFrames(frames [][]byte) []byte {
	var out []byte
	for i, f := range frames {
		flag := byte(0)
		if i < len(frames)-1 {
			flag = 1 // more
		}
		out = append(append(out, flag, byte(len(f))), f...)
	}
	return out
}

func newSocketPair(b *testing.B) *benchPair {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	w, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	r, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	size := len(zmtpFrames(Encode(HashBlock, HashBody(chainhash.Hash{}), 0)))
	buf := make([]byte, size)
	return &benchPair{
		send: func(body []byte, seq uint32) error {
			_, err := w.Write(zmtpFrames(Encode(HashBlock, body, seq)))
			return err
		},
		recv: func() (uint32, bool) {
			if _, err := io.ReadFull(r, buf); err != nil {
				return 0, false
			}
			return binary.LittleEndian.Uint32(buf[size-4:]), true
		},
		stop: func() { w.Close(); r.Close() },
	}
}

func newBenchPair(b *testing.B, reader string) *benchPair {
	b.Helper()
	if reader == "socket" {
		return newSocketPair(b)
	}
	quiet := zmq4.WithLogger(log.New(io.Discard, "", 0))
	pub := zmq4.NewPub(context.Background(), quiet)
	if err := pub.Listen("tcp://127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	addr := "tcp://" + pub.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	p := &benchPair{pub: pub, send: func(body []byte, seq uint32) error {
		return pub.SendMulti(zmq4.NewMsgFrom(Encode(HashBlock, body, seq)...))
	}}
	if reader == "zmq4" {
		sub := zmq4.NewSub(ctx, quiet)
		if err := sub.SetOption(zmq4.OptionSubscribe, string(HashBlock)); err != nil {
			b.Fatal(err)
		}
		if err := sub.Dial(addr); err != nil {
			b.Fatal(err)
		}
		p.recv = func() (uint32, bool) {
			msg, err := sub.Recv()
			if err != nil || len(msg.Frames) != 3 {
				return 0, false
			}
			return binary.LittleEndian.Uint32(msg.Frames[2]), true
		}
		p.stop = func() { cancel(); sub.Close(); pub.Close() }
	} else {
		events, err := Subscribe(ctx, addr, []Topic{HashBlock})
		if err != nil {
			b.Fatal(err)
		}
		if ev := <-events; ev.Kind != EventConnected {
			b.Fatalf("first event %+v", ev)
		}
		p.recv = func() (uint32, bool) {
			ev, ok := <-events
			return ev.Seq, ok && ev.Kind == EventMessage
		}
		p.stop = func() {
			cancel()
			for range events {
			}
			pub.Close()
		}
	}
	for !slices.Contains(pub.(zmq4.Topics).Topics(), string(HashBlock)) {
		time.Sleep(time.Millisecond) // until the subscription arrives
	}
	return p
}

// BenchmarkThroughput publishes b.N hashblock messages back to back and
// reads them all: events per second.
func BenchmarkThroughput(b *testing.B) {
	body := HashBody(chainhash.Hash{1})
	for _, reader := range benchReaders {
		b.Run(reader, func(b *testing.B) {
			p := newBenchPair(b, reader)
			defer p.stop()
			b.ResetTimer()
			start := time.Now()
			go func() {
				for i := 0; i < b.N; i++ {
					if err := p.send(body, uint32(i)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			for i := 0; i < b.N; i++ {
				if seq, ok := p.recv(); !ok || seq != uint32(i) {
					b.Fatalf("message %d: seq %d, ok %v", i, seq, ok)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkLatency publishes one hashblock message at a time and waits
// for it: the time from publishing to delivery.
func BenchmarkLatency(b *testing.B) {
	body := HashBody(chainhash.Hash{1})
	for _, reader := range benchReaders {
		b.Run(reader, func(b *testing.B) {
			p := newBenchPair(b, reader)
			defer p.stop()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if err := p.send(body, uint32(i)); err != nil {
					b.Fatal(err)
				}
				if seq, ok := p.recv(); !ok || seq != uint32(i) {
					b.Fatalf("message %d: seq %d, ok %v", i, seq, ok)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
		})
	}
}
