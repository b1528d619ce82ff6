// Package process is the transport layer of Bitcoin Core's multiprocess IPC,
// the Go counterpart of Core's ipc::Process (src/ipc/process.{h,cpp}) plus
// the pieces of interfaces::Ipc that deal with sockets, addresses and child
// processes. It knows nothing about Cap'n Proto: it hands out *net.UnixConn
// values and leaves the protocol to the caller.
//
// # Addresses
//
// Addresses use Core's -ipcbind / -ipcconnect syntax. "unix" or "unix:" means
// <datadir>/<exe name without "bitcoin-">.sock, so both bitcoin-node's bind and
// a client's connect resolve to node.sock. "unix:PATH" is relative to the
// per-network data directory unless PATH is absolute. See [ParseAddress],
// [NetworkDataDir] and [ConnectAddress] (the bitcoin-cli "-ipcconnect"
// convention, including "auto" and "0").
//
// # Differences from Bitcoin Core ("and safer")
//
//   - [Listen] never deletes a socket that a live process is listening on.
//     Core unlinks any existing socket file unconditionally, which silently
//     hijacks the address of a running node. Here an existing socket is probed
//     with a connect first; only a stale socket (ECONNREFUSED) is removed.
//     Regular files, symbolic links and directories are never touched.
//   - The socket file is created with mode 0600 whatever the process umask
//     (Core relies on umask 0077). See [Listen] for how this is done without
//     ever exposing a wider mode.
//   - A [Listener] checks peer credentials (SO_PEERCRED): by default only
//     peers with this process's effective UID are handed out.
//   - [Listener.Close] removes the socket file, if it is still the file the
//     listener created (Core leaves it behind).
//   - The listen backlog is the kernel maximum, not 5, so parallel clients are
//     not refused; [WithRetry] covers the remaining EAGAIN/ECONNREFUSED cases.
//   - [Spawn] reports a failed exec (missing file, not executable) as an error
//     instead of a child that exits 127, and exposes the child's exit through
//     [Child.Wait] and [Child.Done].
//
// # Spawned children
//
// A parent calls [Spawn], which runs "exe -ipcfd 3" with one end of a
// socketpair as fd 3 ("exe 3" with [WithArgv]([ArgvFD]), the shape of
// libmultiprocess's example programs; the child must be told the same).
// [ExePath] finds a sibling program next to the running one. The child calls [StartSpawned] (or [CheckSpawned] and
// [SpawnedConn]) first thing in main. A spawned child serves exactly one
// connection, the one to its parent, and the parent controls its lifetime:
// SIGINT is logged and ignored ([IgnoreInterrupt]), and when the parent's
// connection closes (the parent exited, crashed or closed [Child].Conn) the
// child's serve loop sees EOF, returns, and the child should exit with status
// 0. This mirrors Core's startSpawnedProcess.
//
// Only Linux is supported.
package process
