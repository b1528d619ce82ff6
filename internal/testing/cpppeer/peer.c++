// cpppeer: a C++ peer for the rttest schema, built on plain Cap'n Proto
// (Debian's libcapnp-dev, 0.9.2) without libmultiprocess, that follows
// libmultiprocess's wire conventions in both roles. The Go interop tests
// in rt/interop_test.go build and run it.
//
//   peer serve <fd>                  serve TestInit on the connected socket fd;
//                                    a line "counts" on stdin prints a COUNTS
//                                    line (see printCounts), as does the end
//                                    of the connection
//   peer bench-server <fd>           the same
//   peer client <fd> <scenario>      drive a TestInit server: basic, errors,
//                                    callback, threads, pipeline, unreturned,
//                                    promise, bench N (the client serves a
//                                    TestInit of its own as its bootstrap)
//   peer bench-client <fd> <N>       = client <fd> bench <N>
//   peer bench-client-mt <fd> <N> <T[,T...]>
//                                    = client <fd> bench-mt <N> <T,...>:
//                                    for each T, N Calc.add calls split
//                                    over T concurrent chains, each on a
//                                    server Thread of its own; one RESULT
//                                    line (threads, calls_per_s,
//                                    cpu_us_per_call) per T
//
// Server behaviour, as libmultiprocess's (see the protocol notes, §1.4):
// construct keeps the peer's ThreadMap and answers with one of ours;
// makeThread makes a named Thread registered in a CapabilityServerSet;
// every Context method looks context.thread up there (which waits for a
// pipelined thread to resolve): not ours -> "invalid thread handle", null
// -> the makePool pool, else "no thread specified and no pool configured".
// Calls run on the kj event loop, but each Thread runs its calls one at a
// time in arrival order; a call gives its Thread up while it waits on an
// outgoing call (libmultiprocess's Waiter), so callbacks can re-enter it.

#include <capnp/capability.h>
#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/debug.h>
#include <kj/timer.h>
#include <kj/vector.h>
#include <mp/proxy.capnp.h>
#include <rttest.capnp.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

kj::Timer* g_timer = nullptr;

// Live objects of each kind this process serves, for COUNTS lines: what
// the peer still holds (or we hold ourselves) of ours.
struct Counts {
  int calcs = 0;
  int threads = 0;
  int callbacks = 0;
} g_counts;

void printCounts(const char* when) {
  printf("COUNTS %s calcs=%d threads=%d callbacks=%d\n", when, g_counts.calcs, g_counts.threads, g_counts.callbacks);
  fflush(stdout);
}

// kRelease, as Calc.ping's argument, tells a Go server under test that
// the calls sent before it have arrived (it then releases a call it held).
constexpr uint64_t kRelease = 0x52454c45415345;

[[noreturn]] void fatal(const std::string& msg) {
  fprintf(stdout, "FAIL %s\n", msg.c_str());
  fflush(stdout);
  _exit(1);
}

// ---- threads ----

class ThreadImpl;

// Hold is a running call's claim on its Thread; dropping it lets the next
// queued call start.
class Hold {
 public:
  Hold(ThreadImpl& t, mp::Thread::Client keep) : m_thread(t), m_keep(kj::mv(keep)) {}
  ~Hold() noexcept(false);
  KJ_DISALLOW_COPY(Hold);

 private:
  ThreadImpl& m_thread;
  mp::Thread::Client m_keep;  // keeps the Thread object alive
};

class ThreadImpl final : public mp::Thread::Server {
 public:
  explicit ThreadImpl(std::string name) : name(kj::mv(name)) { g_counts.threads++; }
  ~ThreadImpl() noexcept(false) { g_counts.threads--; }

  kj::Promise<void> getName(GetNameContext c) override {
    c.getResults().setResult(name);
    return kj::READY_NOW;
  }

  // acquire waits for the calls queued before this one.
  kj::Promise<kj::Own<Hold>> acquire(mp::Thread::Client self) {
    if (!busy && waiting.empty()) {
      busy = true;
      return kj::heap<Hold>(*this, kj::mv(self));
    }
    auto paf = kj::newPromiseAndFulfiller<void>();
    waiting.push_back(kj::mv(paf.fulfiller));
    return paf.promise.then([this, self = kj::mv(self)]() mutable {
      return kj::heap<Hold>(*this, kj::mv(self));
    });
  }

  void release() {
    while (!waiting.empty()) {
      auto f = kj::mv(waiting.front());
      waiting.pop_front();
      if (f->isWaiting()) {
        f->fulfill();  // busy stays set: the thread passes to that call
        return;
      }
    }
    busy = false;
  }

  const std::string name;
  bool busy = false;
  int inflight = 0;
  std::deque<kj::Own<kj::PromiseFulfiller<void>>> waiting;
};

Hold::~Hold() noexcept(false) { m_thread.release(); }

// Peer is the per-connection state of libmultiprocess's Connection: our
// Thread objects, the pool, and the peer's ThreadMap.
struct Peer {
  capnp::CapabilityServerSet<mp::Thread> threads;
  struct PoolSlot {
    mp::Thread::Client client;
    ThreadImpl* impl;
  };
  std::vector<PoolSlot> pool;
  mp::ThreadMap::Client peerThreadMap{nullptr};
  int seq = 0;
  std::string exe = "cpppeer";

  mp::Thread::Client newThread(const std::string& from, ThreadImpl** out = nullptr) {
    std::string name = exe + "-" + std::to_string(getpid()) + "/worker-" + std::to_string(++seq) +
                       " (from " + from + ")";
    auto impl = kj::heap<ThreadImpl>(name);
    if (out) *out = impl.get();
    return threads.add(kj::mv(impl));
  }
};

Peer* g_peer = nullptr;

// Running is what a call on a Thread has: its Thread (self), the caller's
// callbackThread, and the claim on the Thread.
struct Running {
  mp::Thread::Client self;
  ThreadImpl* thread;
  kj::Maybe<mp::Thread::Client> callback;
  kj::Own<Hold> hold;
};

template <typename Fn>
kj::Promise<void> runOn(mp::Thread::Client self, ThreadImpl* t, kj::Maybe<mp::Thread::Client> cb, Fn fn) {
  t->inflight++;
  auto p = t->acquire(self).then([self, t, cb = kj::mv(cb), fn = kj::mv(fn)](kj::Own<Hold> hold) mutable {
    return fn(Running{kj::mv(self), t, kj::mv(cb), kj::mv(hold)});
  });
  return p.attach(kj::defer([t, self]() { t->inflight--; }));
}

// onThread runs fn for a call whose context is ctx, on the Thread it names.
template <typename Fn>
kj::Promise<void> onThread(mp::Context::Reader ctx, Fn fn) {
  kj::Maybe<mp::Thread::Client> cb;
  if (ctx.hasCallbackThread()) cb = ctx.getCallbackThread();
  if (!ctx.hasThread()) {
    auto& pool = g_peer->pool;
    if (pool.empty()) throw std::runtime_error("no thread specified and no pool configured");
    // The slot with the fewest calls in flight; ties go to the lowest.
    size_t best = 0;
    for (size_t i = 1; i < pool.size(); i++) {
      if (pool[i].impl->inflight < pool[best].impl->inflight) best = i;
    }
    return runOn(pool[best].client, pool[best].impl, kj::mv(cb), kj::mv(fn));
  }
  auto client = kj::heap<mp::Thread::Client>(ctx.getThread());
  auto& ref = *client;
  return g_peer->threads.getLocalServer(ref).then(
      [client = kj::mv(client), cb = kj::mv(cb), fn = kj::mv(fn)](kj::Maybe<mp::Thread::Server&> s) mutable {
        ThreadImpl* t = nullptr;
        KJ_IF_MAYBE(srv, s) { t = dynamic_cast<ThreadImpl*>(srv); }
        if (t == nullptr) throw std::runtime_error("invalid thread handle");
        return runOn(*client, t, kj::mv(cb), kj::mv(fn));
      });
}

class ThreadMapImpl final : public mp::ThreadMap::Server {
 public:
  kj::Promise<void> makeThread(MakeThreadContext c) override {
    c.getResults().setResult(g_peer->newThread(c.getParams().getName()));
    return kj::READY_NOW;
  }

  kj::Promise<void> makePool(MakePoolContext c) override {
    auto& pool = g_peer->pool;
    if (!pool.empty()) throw std::runtime_error("makePool called on connection with existing pool");
    uint32_t n = c.getParams().getCount();
    for (uint32_t i = 0; i < n; i++) {
      ThreadImpl* impl;
      auto client = g_peer->newThread("pool/" + std::to_string(i), &impl);
      pool.push_back({kj::mv(client), impl});
    }
    return kj::READY_NOW;
  }
};

// ---- server objects ----

class CalcImpl;
CalcImpl* g_lastCalc = nullptr;  // the Calc makeCalc made last (while it lives)

class CalcImpl final : public rttest::Calc::Server {
 public:
  CalcImpl() {
    g_counts.calcs++;
    g_lastCalc = this;
  }
  ~CalcImpl() noexcept(false) {
    g_counts.calcs--;
    if (g_lastCalc == this) g_lastCalc = nullptr;
  }

  std::vector<int64_t> adds;  // the first argument of each add, in order

  kj::Promise<void> destroy(DestroyContext c) override {
    return onThread(c.getParams().getContext(), [this](Running) {
      m_destroyed = true;
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> add(AddContext c) override {
    check();
    return onThread(c.getParams().getContext(), [this, c](Running) mutable {
      auto p = c.getParams();
      adds.push_back(p.getA());
      c.getResults().setResult(p.getA() + p.getB());
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> threadName(ThreadNameContext c) override {
    check();
    return onThread(c.getParams().getContext(), [c](Running r) mutable {
      c.getResults().setResult(r.thread->name);
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> fail(FailContext c) override {
    check();
    return onThread(c.getParams().getContext(), [c](Running) mutable -> kj::Promise<void> {
      auto p = c.getParams();
      std::string text = p.getText();
      switch (p.getKind()) {
        case 0:
          throw std::runtime_error(text);
        case 1:
          kj::throwFatalException(kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str(text.c_str())));
        case 2:
          kj::throwFatalException(kj::Exception(kj::Exception::Type::OVERLOADED, __FILE__, __LINE__, kj::str(text.c_str())));
        case 3:
          kj::throwFatalException(kj::Exception(kj::Exception::Type::UNIMPLEMENTED, __FILE__, __LINE__, kj::str(text.c_str())));
        case 4:
          kj::throwFatalException(kj::Exception(kj::Exception::Type::DISCONNECTED, __FILE__, __LINE__, kj::str(text.c_str())));
      }
      throw std::runtime_error(text);
    });
  }

  kj::Promise<void> sleep(SleepContext c) override {
    check();
    return onThread(c.getParams().getContext(), [c](Running r) mutable {
      // The thread stays busy while it sleeps, as an OS thread would.
      return g_timer->afterDelay(c.getParams().getMillis() * kj::MILLISECONDS)
          .then([c]() mutable { c.getResults().setResult(true); })
          .attach(kj::mv(r.hold));
    });
  }

  kj::Promise<void> callBack(CallBackContext c) override {
    check();
    return onThread(c.getParams().getContext(), [c](Running r) mutable {
      auto p = c.getParams();
      auto cb = p.getCb();
      auto req = cb.callRequest();
      auto ctx = req.initContext();
      KJ_IF_MAYBE(t, r.callback) { ctx.setThread(*t); }
      ctx.setCallbackThread(r.self);
      req.setDepth(p.getDepth());
      // The thread is free while the callback runs: calls the callee
      // makes back on it run meanwhile.
      r.hold = nullptr;
      return req.send().then([c](capnp::Response<rttest::Callback::CallResults> res) mutable {
        c.getResults().setResult(res.getResult() + 1);
      });
    });
  }

  kj::Promise<void> ping(PingContext c) override {
    check();
    c.getResults().setResult(c.getParams().getX());
    return kj::READY_NOW;
  }

  kj::Promise<void> raise(RaiseContext c) override {
    check();
    return onThread(c.getParams().getContext(), [c](Running) mutable {
      // ServerExcept: the std::exception's what() goes into the error field.
      try {
        throw std::runtime_error(std::string(c.getParams().getText()));
      } catch (const std::exception& e) {
        c.getResults().setError(e.what());
      }
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

  kj::Promise<void> echo(EchoContext c) override {
    check();
    return onThread(c.getParams().getContext(), [c](Running) mutable {
      c.getResults().setResult(c.getParams().getData());
      return kj::Promise<void>(kj::READY_NOW);
    });
  }

 private:
  // libmultiprocess crashes on a call after destroy; we fail it.
  void check() {
    if (m_destroyed) throw std::runtime_error("called after destroy");
  }
  bool m_destroyed = false;
};

class InitImpl final : public rttest::TestInit::Server {
 public:
  kj::Promise<void> construct(ConstructContext c) override {
    g_peer->peerThreadMap = c.getParams().getThreadMap();
    c.getResults().setThreadMap(kj::heap<ThreadMapImpl>());
    return kj::READY_NOW;
  }

  kj::Promise<void> makeCalc(MakeCalcContext c) override {
    return onThread(c.getParams().getContext(), [c](Running) mutable {
      c.getResults().setResult(kj::heap<CalcImpl>());
      return kj::Promise<void>(kj::READY_NOW);
    });
  }
};

// readCommands answers the lines of in: "counts" prints a COUNTS line.
kj::Promise<void> readCommands(kj::AsyncInputStream& in, kj::Own<std::string> line) {
  auto buf = kj::heapArray<char>(256);
  auto ptr = buf.begin();
  return in.tryRead(ptr, 1, buf.size())
      .then([&in, line = kj::mv(line), buf = kj::mv(buf)](size_t n) mutable -> kj::Promise<void> {
        if (n == 0) return kj::READY_NOW;  // stdin closed
        for (size_t i = 0; i < n; i++) {
          if (buf[i] != '\n') {
            line->push_back(buf[i]);
            continue;
          }
          if (*line == "counts") printCounts("now");
          line->clear();
        }
        return readCommands(in, kj::mv(line));
      });
}

int serve(int fd) {
  auto io = kj::setupAsyncIo();
  g_timer = &io.provider->getTimer();
  Peer peer;
  g_peer = &peer;
  {
    auto stream = io.lowLevelProvider->wrapSocketFd(fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
    capnp::TwoPartyVatNetwork network(*stream, capnp::rpc::twoparty::Side::SERVER);
    auto rpc = capnp::makeRpcServer(network, capnp::Capability::Client(kj::heap<InitImpl>()));
    // Commands come on a pipe; a stdin that epoll cannot watch (a file,
    // /dev/null) has none.
    struct stat st;
    kj::Own<kj::AsyncInputStream> in;
    kj::Promise<void> commands = kj::READY_NOW;
    if (fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
      in = io.lowLevelProvider->wrapInputFd(0);
      commands = readCommands(*in, kj::heap<std::string>()).eagerlyEvaluate([](kj::Exception&&) {});
    }
    network.onDisconnect().wait(io.waitScope);
  }
  // The connection and everything it held are gone; the pool and the
  // peer's ThreadMap are ours to drop.
  peer.pool.clear();
  peer.peerThreadMap = nullptr;
  printCounts("end");
  return 0;
}

// ---- client ----

class CallbackImpl final : public rttest::Callback::Server {
 public:
  explicit CallbackImpl(rttest::Calc::Client calc) : m_calc(kj::mv(calc)) { g_counts.callbacks++; }
  ~CallbackImpl() noexcept(false) { g_counts.callbacks--; }

  kj::Promise<void> destroy(DestroyContext c) override {
    return onThread(c.getParams().getContext(), [](Running) { return kj::Promise<void>(kj::READY_NOW); });
  }

  kj::Promise<void> call(CallContext c) override {
    calls++;
    return onThread(c.getParams().getContext(), [this, c](Running r) mutable -> kj::Promise<void> {
      int32_t depth = c.getParams().getDepth();
      if (depth <= 0) {
        c.getResults().setResult(depth);
        return kj::READY_NOW;
      }
      // Nested: call the server again on the thread that called us.
      auto req = m_calc.callBackRequest();
      auto ctx = req.initContext();
      KJ_IF_MAYBE(t, r.callback) { ctx.setThread(*t); }
      ctx.setCallbackThread(r.self);
      req.setCb(thisCap());
      req.setDepth(depth - 1);
      r.hold = nullptr;
      return req.send().then([c](capnp::Response<rttest::Calc::CallBackResults> res) mutable {
        c.getResults().setResult(res.getResult());
      });
    });
  }

  int calls = 0;

 private:
  rttest::Calc::Client m_calc;
};

struct Client {
  kj::AsyncIoContext& io;
  rttest::TestInit::Client init;
  mp::ThreadMap::Client serverThreadMap;
  mp::Thread::Client remote;  // our thread on the server (pipelined)
  mp::Thread::Client local;   // our callbackThread
  rttest::Calc::Client calc;

  void fill(mp::Context::Builder b) {
    b.setThread(remote);
    b.setCallbackThread(local);
  }

  template <typename T>
  kj::Maybe<kj::Exception> failure(T&& promise) {
    return kj::runCatchingExceptions([&]() { promise.wait(io.waitScope); });
  }
};

const char* typeName(kj::Exception::Type t) {
  switch (t) {
    case kj::Exception::Type::FAILED: return "failed";
    case kj::Exception::Type::OVERLOADED: return "overloaded";
    case kj::Exception::Type::DISCONNECTED: return "disconnected";
    case kj::Exception::Type::UNIMPLEMENTED: return "unimplemented";
  }
  return "?";
}

bool contains(kj::StringPtr s, const char* sub) { return strstr(s.cStr(), sub) != nullptr; }

void expectFailure(kj::Maybe<kj::Exception> e, const char* what, const char* want) {
  KJ_IF_MAYBE(ex, e) {
    if (!contains(ex->getDescription(), want)) {
      fatal(std::string(what) + ": error \"" + ex->getDescription().cStr() + "\" lacks \"" + want + "\"");
    }
    printf("OK %s: %s: %s\n", what, typeName(ex->getType()), ex->getDescription().cStr());
    return;
  }
  fatal(std::string(what) + ": succeeded, want \"" + want + "\"");
}

int64_t add(Client& cl, int64_t a, int64_t b) {
  auto req = cl.calc.addRequest();
  cl.fill(req.initContext());
  req.setA(a);
  req.setB(b);
  return req.send().wait(cl.io.waitScope).getResult();
}

void scenarioBasic(Client& cl) {
  auto& ws = cl.io.waitScope;
  // The first call goes out before makeThread or makeCalc have returned.
  if (int64_t r = add(cl, 2, 40); r != 42) fatal("add = " + std::to_string(r));
  printf("OK add\n");
  {
    auto req = cl.calc.threadNameRequest();
    cl.fill(req.initContext());
    std::string name = req.send().wait(ws).getResult();
    if (name.find("(from cpppeer-client)") == std::string::npos) fatal("threadName = " + name);
    auto gn = cl.remote.getNameRequest().send().wait(ws);
    if (name != std::string(gn.getResult())) fatal("Thread.getName = " + std::string(gn.getResult()) + ", calls ran on " + name);
    printf("OK threadName %s\n", name.c_str());
  }
  {
    auto req = cl.calc.pingRequest();
    req.setX(7);
    if (uint64_t x = req.send().wait(ws).getResult(); x != 7) fatal("ping = " + std::to_string(x));
    printf("OK ping\n");
  }
  {
    auto req = cl.calc.raiseRequest();
    cl.fill(req.initContext());
    req.setText("thrown text");
    auto res = req.send().wait(ws);
    if (!res.hasError() || res.getError() != "thrown text") fatal("raise: error field not set");
    printf("OK raise %s\n", res.getError().cStr());
  }
  {
    auto req = cl.calc.echoRequest();
    cl.fill(req.initContext());
    std::string data(100000, 'x');
    req.setData(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(data.data()), data.size()));
    auto res = req.send().wait(ws);
    if (res.getResult().size() != data.size()) fatal("echo size");
    printf("OK echo\n");
  }
  {
    auto req = cl.calc.destroyRequest();
    cl.fill(req.initContext());
    req.send().wait(ws);
    printf("OK destroy\n");
  }
}

void scenarioErrors(Client& cl) {
  struct Case {
    int kind;
    kj::Exception::Type type;
  } cases[] = {
      {0, kj::Exception::Type::FAILED},
      {1, kj::Exception::Type::FAILED},
      {2, kj::Exception::Type::OVERLOADED},
      {3, kj::Exception::Type::UNIMPLEMENTED},
  };
  for (auto& c : cases) {
    auto req = cl.calc.failRequest();
    cl.fill(req.initContext());
    req.setKind(c.kind);
    req.setText("boom");
    auto e = cl.failure(req.send());
    KJ_IF_MAYBE(ex, e) {
      if (ex->getType() != c.type) {
        fatal("fail kind " + std::to_string(c.kind) + ": type " + typeName(ex->getType()) + ", want " + typeName(c.type));
      }
      if (!contains(ex->getDescription(), "boom")) fatal(std::string("fail: description ") + ex->getDescription().cStr());
      printf("OK fail kind=%d type=%s desc=%s\n", c.kind, typeName(ex->getType()), ex->getDescription().cStr());
    } else {
      fatal("fail kind " + std::to_string(c.kind) + " succeeded");
    }
  }
  if (add(cl, 1, 1) != 2) fatal("add after errors");
  printf("OK add after errors\n");
}

void scenarioCallback(Client& cl, int32_t depth) {
  auto impl = kj::heap<CallbackImpl>(cl.calc);
  auto& cbImpl = *impl;
  rttest::Callback::Client cb = kj::mv(impl);
  auto req = cl.calc.callBackRequest();
  cl.fill(req.initContext());
  req.setCb(cb);
  req.setDepth(depth);
  int32_t r = req.send().wait(cl.io.waitScope).getResult();
  // C++ -> Go -> C++ -> ...: every server level adds one; the innermost callback returns 0.
  if (r != depth + 1) fatal("callBack = " + std::to_string(r) + ", want " + std::to_string(depth + 1));
  if (cbImpl.calls != depth + 1) fatal("callback ran " + std::to_string(cbImpl.calls) + " times");
  printf("OK callback depth=%d result=%d calls=%d\n", depth, r, cbImpl.calls);
}

void scenarioThreads(Client& cl) {
  auto& ws = cl.io.waitScope;
  {
    auto req = cl.calc.addRequest();
    req.initContext().setCallbackThread(cl.local);
    expectFailure(cl.failure(req.send()), "null thread", "no thread specified and no pool configured");
  }
  {
    auto req = cl.calc.addRequest();
    auto ctx = req.initContext();
    ctx.setThread(cl.local);  // ours, not the server's
    ctx.setCallbackThread(cl.local);
    expectFailure(cl.failure(req.send()), "own thread", "invalid thread handle");
  }
  {
    auto req = cl.serverThreadMap.makePoolRequest();
    req.setCount(2);
    req.send().wait(ws);
    printf("OK makePool\n");
  }
  {
    auto req = cl.calc.addRequest();
    req.initContext().setCallbackThread(cl.local);
    req.setA(20);
    req.setB(22);
    if (auto r = req.send().wait(ws).getResult(); r != 42) fatal("pool add = " + std::to_string(r));
    auto nreq = cl.calc.threadNameRequest();
    nreq.initContext().setCallbackThread(cl.local);
    std::string name = nreq.send().wait(ws).getResult();
    if (name.find("pool/") == std::string::npos) fatal("pool call ran on " + name);
    printf("OK null thread on pool: %s\n", name.c_str());
  }
  {
    auto req = cl.serverThreadMap.makePoolRequest();
    req.setCount(2);
    expectFailure(cl.failure(req.send()), "second makePool", "existing pool");
  }
  if (add(cl, 1, 1) != 2) fatal("add after thread checks");
  printf("OK add after thread checks\n");
}

// Two calls whose context.thread is the same unreturned answer (as a
// receiverAnswer CapDescriptor), held back deterministically: makeCalc is
// queued on our server thread behind a 300 ms sleep, and its pipelined
// result (a Calc, so not a Thread) is sent as context.thread twice. The
// server must answer both with "invalid thread handle" once makeCalc
// returns. (go-capnp v3.1.0-alpha.2 deadlocks the connection here: the
// second receiverAnswer leaves the answer's promise locked, see Future.Client.)
void scenarioPipeline(Client& cl) {
  auto& ws = cl.io.waitScope;
  auto sreq = cl.calc.sleepRequest();
  cl.fill(sreq.initContext());
  sreq.setMillis(300);
  auto sleeping = sreq.send();
  auto mreq = cl.init.makeCalcRequest();
  cl.fill(mreq.initContext());
  auto slowCalc = mreq.send();
  auto notAThread = slowCalc.getResult().castAs<mp::Thread>();
  kj::Vector<kj::Promise<void>> calls;
  for (int i = 0; i < 2; i++) {
    auto req = cl.calc.addRequest();
    auto ctx = req.initContext();
    ctx.setThread(notAThread);
    ctx.setCallbackThread(cl.local);
    calls.add(req.send().ignoreResult());
  }
  for (auto& c : calls) {
    expectFailure(cl.failure(c), "pending answer as thread", "invalid thread handle");
  }
  if (!sleeping.wait(ws).getResult()) fatal("sleep result");
  slowCalc.wait(ws);
  // Pipelined calls on the fresh thread: makeThread and two calls carrying
  // its unreturned answer, sent together.
  auto treq = cl.serverThreadMap.makeThreadRequest();
  treq.setName("cpppeer-client-2");
  auto tprom = treq.send();
  auto t2 = tprom.getResult();
  kj::Vector<capnp::RemotePromise<rttest::Calc::AddResults>> adds;
  for (int i = 0; i < 3; i++) {
    auto req = cl.calc.addRequest();
    auto ctx = req.initContext();
    ctx.setThread(t2);
    ctx.setCallbackThread(cl.local);
    req.setA(i);
    req.setB(1);
    adds.add(req.send());
  }
  for (int i = 0; i < 3; i++) {
    if (adds[i].wait(ws).getResult() != i + 1) fatal("pipelined add");
  }
  tprom.wait(ws);
  printf("OK pipelined calls on an unreturned thread\n");
}

// An incoming call (at the Go server) whose target and whose
// context.thread are both unreturned answers: threadName on the Calc of a
// makeCalc, on the Thread of a makeThread, the three sent together. The Go
// server under test holds makeCalc until ping(kRelease), sent after the
// call, arrives: the target is unreturned when the call arrives, and the
// thread was sent unreturned.
void scenarioUnreturned(Client& cl) {
  auto& ws = cl.io.waitScope;
  auto treq = cl.serverThreadMap.makeThreadRequest();
  treq.setName("cpppeer-unreturned");
  auto tprom = treq.send();
  auto mreq = cl.init.makeCalcRequest();
  cl.fill(mreq.initContext());
  auto mprom = mreq.send();
  auto nreq = mprom.getResult().threadNameRequest();
  auto ctx = nreq.initContext();
  ctx.setThread(tprom.getResult());
  ctx.setCallbackThread(cl.local);
  auto nprom = nreq.send();
  auto areq = mprom.getResult().addRequest();
  auto actx = areq.initContext();
  actx.setThread(tprom.getResult());
  actx.setCallbackThread(cl.local);
  areq.setA(40);
  areq.setB(2);
  auto aprom = areq.send();
  auto preq = cl.calc.pingRequest();
  preq.setX(kRelease);
  auto pprom = preq.send();
  std::string name = nprom.wait(ws).getResult();
  if (name.find("(from cpppeer-unreturned)") == std::string::npos) fatal("threadName on the unreturned thread ran on " + name);
  if (auto r = aprom.wait(ws).getResult(); r != 42) fatal("add on the unreturned Calc = " + std::to_string(r));
  pprom.wait(ws);
  auto calc2 = mprom.wait(ws).getResult();
  tprom.wait(ws);
  auto dreq = calc2.destroyRequest();
  cl.fill(dreq.initContext());
  dreq.send().wait(ws);
  printf("OK call on an unreturned Calc and Thread ran on %s\n", name.c_str());
}

// PromiseCallback is called by the Go server with a context.thread that
// is a promise of Go's (see scenarioPromise). It calls add(1) on the
// promise, as a Calc, then releases the Go server's makeCalc; once add(1)
// returned (the promise has resolved by then), it calls add(2) on it.
class PromiseCallback final : public rttest::Callback::Server {
 public:
  explicit PromiseCallback(Client& cl) : m_cl(cl) { g_counts.callbacks++; }
  ~PromiseCallback() noexcept(false) { g_counts.callbacks--; }

  kj::Promise<void> call(CallContext c) override {
    auto promised = c.getParams().getContext().getThread().castAs<rttest::Calc>();
    auto local = m_cl.local;
    auto add = [promised, local](int64_t a) mutable {
      auto req = promised.addRequest();
      auto ctx = req.initContext();
      ctx.setThread(local);
      ctx.setCallbackThread(local);
      req.setA(a);
      req.setB(100);
      return req.send();
    };
    auto first = add(1);
    auto preq = m_cl.calc.pingRequest();
    preq.setX(kRelease);
    auto ping = preq.send();
    return first.then([add, ping = kj::mv(ping)](capnp::Response<rttest::Calc::AddResults> r) mutable {
             if (r.getResult() != 101) fatal("add(1) through the promise = " + std::to_string(r.getResult()));
             return ping.then([add](capnp::Response<rttest::Calc::PingResults>) mutable {
               return kj::Promise<capnp::Response<rttest::Calc::AddResults>>(add(2));
             });
           })
        .then([c](capnp::Response<rttest::Calc::AddResults> r) mutable {
          if (r.getResult() != 102) fatal("add(2) on the resolved promise = " + std::to_string(r.getResult()));
          c.getResults().setResult(c.getParams().getDepth());
        });
  }

 private:
  Client& m_cl;
};

// Go passes us a promise that resolves later to a capability we host.
// The Go server holds makeCalc (its answer A unreturned) until released;
// we name A's pipelined result as the callbackThread of a callBack call,
// so Go's handler, calling back, sends it as context.thread: a
// senderPromise. PromiseCallback calls add(1) on it (through Go, which
// holds the call), then releases makeCalc: the Go server answers it with a
// Calc of ours (from this client's bootstrap), sends Resolve, forwards the
// held add(1) to us, and we, having called the promise, embargo it
// (Disembargo to Go and back) before add(2) goes straight to our Calc.
void scenarioPromise(Client& cl) {
  auto& ws = cl.io.waitScope;
  // makeCalc waits on a Thread of its own.
  auto treq = cl.serverThreadMap.makeThreadRequest();
  treq.setName("cpppeer-promise");
  auto held = treq.send().wait(ws).getResult();
  auto mreq = cl.init.makeCalcRequest();
  auto mctx = mreq.initContext();
  mctx.setThread(held);
  mctx.setCallbackThread(cl.local);
  auto mprom = mreq.send();
  auto creq = cl.calc.callBackRequest();
  auto ctx = creq.initContext();
  ctx.setThread(cl.remote);
  ctx.setCallbackThread(mprom.getResult().castAs<mp::Thread>());
  creq.setCb(kj::heap<PromiseCallback>(cl));
  creq.setDepth(7);
  if (auto r = creq.send().wait(ws).getResult(); r != 8) fatal("callBack = " + std::to_string(r));
  auto ours = mprom.wait(ws).getResult();
  if (g_lastCalc == nullptr) fatal("the Go server's makeCalc did not return our Calc");
  if (g_lastCalc->adds != std::vector<int64_t>{1, 2}) {
    std::string got;
    for (auto a : g_lastCalc->adds) got += " " + std::to_string(a);
    fatal("our Calc got adds" + got + ", want 1 2");
  }
  printf("OK promise resolved to our own Calc; calls arrived in order\n");
}

void scenarioBench(Client& cl, long n) {
  if (n <= 0) fatal("bench needs N > 0");
  for (long i = 0; i < std::min(n / 10 + 1, 200L); i++) add(cl, i, 1);  // warm up
  std::vector<double> us;
  us.reserve(n);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  for (long i = 0; i < n; i++) {
    auto t0 = std::chrono::steady_clock::now();
    if (add(cl, i, 1) != i + 1) fatal("bench add");
    auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  getrusage(RUSAGE_SELF, &r1);
  auto tv = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
  double cpu = (tv(r1.ru_utime) - tv(r0.ru_utime)) + (tv(r1.ru_stime) - tv(r0.ru_stime));
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[std::min(us.size() - 1, static_cast<size_t>(p * us.size()))]; };
  printf("RESULT p50_us=%.1f p99_us=%.1f cpu_us_per_call=%.1f n=%ld\n", pct(0.50), pct(0.99), cpu / n, n);
}

// A chain of sequential Calc.add calls on a server Thread of its own (and
// a callbackThread of its own). The kj event loop is single-threaded, so
// bench-mt's T "client threads" are T such chains in flight at once on
// one loop: the server sees T Threads with one call each in flight, as
// from T client threads.
struct Chain {
  mp::Thread::Client remote;
  mp::Thread::Client local;
  long left = 0;
};

kj::Promise<void> runChain(Client& cl, Chain& ch) {
  if (ch.left <= 0) return kj::READY_NOW;
  long i = ch.left--;
  auto req = cl.calc.addRequest();
  auto ctx = req.initContext();
  ctx.setThread(ch.remote);
  ctx.setCallbackThread(ch.local);
  req.setA(i);
  req.setB(1);
  return req.send().then([&cl, &ch, i](capnp::Response<rttest::Calc::AddResults> r) -> kj::Promise<void> {
    if (r.getResult() != i + 1) fatal("bench-mt add");
    return runChain(cl, ch);
  });
}

void scenarioBenchMT(Client& cl, long n, const std::string& list) {
  auto& ws = cl.io.waitScope;
  if (n <= 0) fatal("bench-mt needs N > 0");
  std::vector<int> counts;
  size_t pos = 0;
  while (pos < list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string::npos) comma = list.size();
    int t = atoi(list.substr(pos, comma - pos).c_str());
    if (t <= 0) fatal("bench-mt: bad thread count list " + list);
    counts.push_back(t);
    pos = comma + 1;
  }
  if (counts.empty()) fatal("bench-mt needs thread counts");
  int maxT = *std::max_element(counts.begin(), counts.end());
  std::vector<kj::Own<Chain>> chains;
  chains.push_back(kj::heap<Chain>(Chain{cl.remote, cl.local}));
  for (int i = 1; i < maxT; i++) {
    auto req = cl.serverThreadMap.makeThreadRequest();
    req.setName("cpppeer-client-" + std::to_string(i + 1));
    auto remote = req.send().wait(ws).getResult();
    chains.push_back(kj::heap<Chain>(Chain{kj::mv(remote), g_peer->newThread("cpppeer-client-" + std::to_string(i + 1))}));
  }
  auto runAll = [&](int t) {
    kj::Vector<kj::Promise<void>> ps;
    for (int i = 0; i < t; i++) ps.add(runChain(cl, *chains[i]));
    kj::joinPromises(ps.releaseAsArray()).wait(ws);
  };
  for (auto& ch : chains) ch->left = std::min(n / 10 + 1, 200L);  // warm up
  runAll(maxT);
  auto tv = [](const timeval& t) { return t.tv_sec * 1e6 + t.tv_usec; };
  for (int t : counts) {
    long per = std::max(1L, n / t);
    for (int i = 0; i < t; i++) chains[i]->left = per;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    auto t0 = std::chrono::steady_clock::now();
    runAll(t);
    auto t1 = std::chrono::steady_clock::now();
    getrusage(RUSAGE_SELF, &r1);
    double secs = std::chrono::duration<double>(t1 - t0).count();
    double cpu = (tv(r1.ru_utime) - tv(r0.ru_utime)) + (tv(r1.ru_stime) - tv(r0.ru_stime));
    long total = per * t;
    printf("RESULT threads=%d calls_per_s=%.0f cpu_us_per_call=%.1f n=%ld\n", t, total / secs, cpu / total, total);
  }
}

int client(int fd, const std::string& scenario, const std::string& arg, const std::string& arg2 = "") {
  auto io = kj::setupAsyncIo();
  g_timer = &io.provider->getTimer();
  Peer peer;
  g_peer = &peer;
  auto stream = io.lowLevelProvider->wrapSocketFd(fd, kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP);
  capnp::TwoPartyVatNetwork network(*stream, capnp::rpc::twoparty::Side::CLIENT);
  // Our bootstrap, for a Go server that calls back into its client's
  // objects (scenario promise).
  auto rpc = capnp::makeRpcServer(network, capnp::Capability::Client(kj::heap<InitImpl>()));
  capnp::MallocMessageBuilder vatMsg;
  auto vatId = vatMsg.initRoot<capnp::rpc::twoparty::VatId>();
  vatId.setSide(capnp::rpc::twoparty::Side::SERVER);
  auto init = rpc.bootstrap(vatId).castAs<rttest::TestInit>();

  // construct with our ThreadMap; then, pipelined on its answer, makeThread
  // on the server's ThreadMap, makeCalc on that thread, and the first call:
  // nothing waits until the scenario's first result.
  auto creq = init.constructRequest();
  creq.setThreadMap(kj::heap<ThreadMapImpl>());
  auto cprom = creq.send();
  auto serverTM = cprom.getThreadMap();
  auto mreq = serverTM.makeThreadRequest();
  mreq.setName("cpppeer-client");
  auto mprom = mreq.send();
  Client cl{io, init, serverTM, mprom.getResult(), peer.newThread("cpppeer-client-main"), nullptr};
  auto calcReq = init.makeCalcRequest();
  cl.fill(calcReq.initContext());
  auto calcProm = calcReq.send();
  cl.calc = calcProm.getResult();
  if (scenario != "pipeline") {
    // Like a libmultiprocess client, whose calls are synchronous: only the
    // first Context call carries the unreturned makeThread answer.
    calcProm.wait(io.waitScope);
  }

  if (scenario == "basic") {
    scenarioBasic(cl);
  } else if (scenario == "errors") {
    scenarioErrors(cl);
  } else if (scenario == "callback") {
    scenarioCallback(cl, arg.empty() ? 3 : atoi(arg.c_str()));
  } else if (scenario == "threads") {
    scenarioThreads(cl);
  } else if (scenario == "pipeline") {
    scenarioPipeline(cl);
  } else if (scenario == "unreturned") {
    scenarioUnreturned(cl);
  } else if (scenario == "promise") {
    scenarioPromise(cl);
  } else if (scenario == "bench") {
    scenarioBench(cl, atol(arg.c_str()));
  } else if (scenario == "bench-mt") {
    scenarioBenchMT(cl, atol(arg.c_str()), arg2);
  } else {
    fatal("unknown scenario " + scenario);
  }
  // The pipelined answers all succeeded.
  cprom.wait(io.waitScope);
  mprom.wait(io.waitScope);
  if (scenario == "pipeline") calcProm.wait(io.waitScope);
  if (scenario != "basic") {
    auto req = cl.calc.destroyRequest();
    cl.fill(req.initContext());
    req.send().wait(io.waitScope);
  }
  printf("OK %s\n", scenario.c_str());
  fflush(stdout);
  return 0;
}

int usage() {
  fprintf(stderr,
          "usage: peer serve <fd> | bench-server <fd> | client <fd> <scenario> [arg] | bench-client <fd> <N>\n"
          "       | bench-client-mt <fd> <N> <T[,T...]>\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc < 3) return usage();
  std::string mode = argv[1];
  int fd = atoi(argv[2]);
  try {
    if (mode == "serve" || mode == "bench-server") return serve(fd);
    if (mode == "client" && argc >= 4) return client(fd, argv[3], argc >= 5 ? argv[4] : "", argc >= 6 ? argv[5] : "");
    if (mode == "bench-client" && argc >= 4) return client(fd, "bench", argv[3]);
    if (mode == "bench-client-mt" && argc >= 5) return client(fd, "bench-mt", argv[3], argv[4]);
  } catch (const kj::Exception& e) {
    fatal(std::string("kj::Exception: ") + kj::str(e).cStr());
  } catch (const std::exception& e) {
    fatal(std::string("std::exception: ") + e.what());
  }
  return usage();
}
