package rt

import (
	"io"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

func init() { nonBlockingWriter = rawWriter }

// rawWriter gives limitCodec a single non-blocking writev on a socket
// (Go keeps network sockets in non-blocking mode): the common case, a
// socket with room, costs one system call and no copy. It returns the
// bytes written, 0 when the socket is full.
func rawWriter(rwc io.ReadWriteCloser) func([][]byte) (int, error) {
	if _, ok := rwc.(net.Conn); !ok {
		return nil
	}
	sc, ok := rwc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return func(bufs [][]byte) (int, error) {
		var (
			n    int
			werr error
		)
		err := raw.Write(func(fd uintptr) bool {
			for {
				n, werr = unix.Writev(int(fd), bufs)
				if werr != unix.EINTR {
					return true
				}
			}
		})
		if err != nil {
			return 0, err
		}
		if n < 0 {
			n = 0
		}
		if werr == unix.EAGAIN {
			return n, nil
		}
		return n, werr
	}
}
