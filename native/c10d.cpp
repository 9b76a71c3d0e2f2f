#include "c10d.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef TORCH_RLHF_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <stdexcept>
#include <sstream>
#include <thread>

namespace torch_rlhf::dist {

namespace {

std::string message(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
std::string seconds(std::chrono::milliseconds ms) {
  std::ostringstream o;
  o << static_cast<double>(ms.count()) / 1000.0 << " s";
  return o.str();
}
std::string rankList(const std::vector<int64_t>& ranks) {
  std::ostringstream o;
  for (size_t i = 0; i < ranks.size(); ++i) o << (i == 0 ? "" : i + 1 == ranks.size() ? " and " : ", ") << ranks[i];
  return o.str();
}

c10::intrusive_ptr<c10d::TCPStore> connectStore(const GroupOptions& o, bool server, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(o.master_port);
  so.isServer = server;
  so.numWorkers = static_cast<std::size_t>(o.world_size);
  so.waitWorkers = false;  // the join below names the ranks that never come
  so.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
}

const std::string kHeartbeat = "heartbeat/";

// c10d's TCPStore client sets no receive timeout on its socket; only wait() polls with one, and
// even it then blocks on the server's reply to its cancel. Against a store whose host is frozen
// (rank 0 stopped with SIGSTOP: its kernel still accepts connections and buffers requests, but
// nothing answers) every call would block in recv for ever. So each store call runs on a thread of
// its own, waited for at most `limit`; past it the caller gets StoreTimeout and the thread is left
// behind, owning what it uses: its captures must be copies and shared pointers, never references.
struct StoreTimeout : std::runtime_error {
  explicit StoreTimeout(std::chrono::milliseconds waited) : std::runtime_error("no answer"), waited(waited) {}
  std::chrono::milliseconds waited;
};
template <typename F>
auto within(std::chrono::milliseconds limit, F f) -> decltype(f()) {
  std::packaged_task<decltype(f())()> task(std::move(f));
  auto result = task.get_future();
  std::thread(std::move(task)).detach();
  if (result.wait_for(limit) != std::future_status::ready) throw StoreTimeout(limit);
  return result.get();
}
// What a store call may take beyond its own timeout (the reply to wait()'s cancel), and a
// diagnosis's calls to a live store.
constexpr std::chrono::milliseconds kStoreSlack{3000};

std::string silentStore(const GroupOptions& o, std::chrono::milliseconds waited) {
  std::ostringstream m;
  if (o.host_store)
    m << "rank 0 is frozen or unreachable: the TCPStore it hosts at " << o.master_addr << ":" << o.master_port
      << " answered nothing within " << seconds(waited);
  else m << "the TCPStore at " << o.master_addr << ":" << o.master_port << " answered nothing within " << seconds(waited);
  return m.str();
}

// c10d logs every failed connection attempt and timeout to stderr, with a C++ backtrace, before
// it throws the error we turn into a message of our own: while joining and while diagnosing a
// failure, only fatal messages get through, unless the user asked for a level
// (TORCH_CPP_LOG_LEVEL).
class QuietC10d {
 public:
  QuietC10d() : saved_(FLAGS_caffe2_log_level), active_(std::getenv("TORCH_CPP_LOG_LEVEL") == nullptr) {
    if (active_) FLAGS_caffe2_log_level = 3;
  }
  ~QuietC10d() {
    if (active_) FLAGS_caffe2_log_level = saved_;
  }
  QuietC10d(const QuietC10d&) = delete;
  QuietC10d& operator=(const QuietC10d&) = delete;

 private:
  int saved_;
  bool active_;
};

}  // namespace

class Group {
 public:
  GroupOptions options;
  c10::intrusive_ptr<c10d::TCPStore> store;  // this rank's connection (the server on rank 0)
  c10::intrusive_ptr<c10d::Store> prefixed;
  c10::intrusive_ptr<c10d::Backend> backend;
  bool destroyed = false;

  // Set once a collective failed (from the thread that waited); later ones refuse to run.
  std::string failure() const {
    std::lock_guard<std::mutex> lock(failure_mutex_);
    return failure_;
  }
  void fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(failure_mutex_);
    if (failure_.empty()) failure_ = why;
  }

  std::string where() const {
    std::ostringstream o;
    o << "distributed (rank " << options.rank << " of " << options.world_size << ")";
    return o.str();
  }

  void startHeartbeat() {
    heartbeat_ = std::thread([beat = beat_, o = options] {
      // Its own connection: TCPStore clients are not shared between threads.
      c10::intrusive_ptr<c10d::Store> s;
      try {
        s = c10::make_intrusive<c10d::PrefixStore>(o.prefix, connectStore(o, false, o.join_timeout));
      } catch (const std::exception&) {
      }
      const std::string key = kHeartbeat + std::to_string(o.rank);
      std::unique_lock<std::mutex> lock(beat->mutex);
      while (s && !beat->stop) {
        lock.unlock();
        try {
          s->add(key, 1);
        } catch (const std::exception&) {
          s.reset();  // the store is gone (rank 0 ended): nothing left to tell
        }
        lock.lock();
        beat->wake.wait_for(lock, o.heartbeat, [&] { return beat->stop; });
      }
      beat->ended = true;
      beat->wake.notify_all();
    });
  }
  // A beat blocked on a frozen store never returns: after a short wait the thread is left behind.
  void stopHeartbeat() {
    if (!heartbeat_.joinable()) return;
    std::unique_lock<std::mutex> lock(beat_->mutex);
    beat_->stop = true;
    beat_->wake.notify_all();
    const bool ended = beat_->wake.wait_for(lock, std::chrono::seconds(1), [this] { return beat_->ended; });
    lock.unlock();
    if (ended) heartbeat_.join();
    else heartbeat_.detach();
  }

  // Which other ranks stopped beating: two reads of every counter, three beats apart. A rank
  // whose process died stops; the store itself gone means its host (rank 0) is gone.
  std::string diagnose() const {
    QuietC10d quiet;
    std::ostringstream why;
    try {
      const auto [before, after] = within(options.heartbeat * 3 + kStoreSlack, [o = options] {
        auto s = c10::make_intrusive<c10d::PrefixStore>(o.prefix, connectStore(o, false, kStoreSlack));
        auto read = [&] {
          std::vector<int64_t> v;
          for (int64_t r = 0; r < o.world_size; ++r) v.push_back(s->add(kHeartbeat + std::to_string(r), 0));
          return v;
        };
        auto first = read();
        std::this_thread::sleep_for(o.heartbeat * 3);
        return std::make_pair(std::move(first), read());
      });
      std::vector<int64_t> dead;
      for (int64_t r = 0; r < options.world_size; ++r)
        if (r != options.rank && before[r] == after[r]) dead.push_back(r);
      if (dead.empty())
        why << "every other rank is still alive (their heartbeats advance): one may be stuck, or the ranks called "
               "their collectives in different orders";
      else
        why << (dead.size() == 1 ? "rank " : "ranks ") << rankList(dead) << (dead.size() == 1 ? " has" : " have")
            << " stopped (no heartbeat for " << seconds(options.heartbeat * 3) << ")";
    } catch (const StoreTimeout& t) {
      why << silentStore(options, t.waited);
    } catch (const std::exception&) {
      if (options.host_store)
        why << "rank 0 has stopped (it hosted the TCPStore at " << options.master_addr << ":" << options.master_port
            << ", which no longer answers)";
      else why << "the TCPStore at " << options.master_addr << ":" << options.master_port << " no longer answers";
    }
    return why.str();
  }

  void check(const char* op) const {
    TORCH_CHECK(!destroyed, where(), ": ", op, " on a destroyed process group");
    const std::string failed = failure();
    TORCH_CHECK(failed.empty(), where(), ": ", op, " on a process group that failed earlier: ", failed);
  }
  void checkTensor(const char* op, const at::Tensor& t) const {
    const bool cuda = options.backend == "nccl";
    TORCH_CHECK(t.defined(), where(), ": ", op, " got an undefined tensor");
    TORCH_CHECK(cuda ? t.is_cuda() : t.device().is_cpu(), where(), ": ", op, " on the ", options.backend, " backend takes ",
                cuda ? "CUDA" : "CPU", " tensors, got one on ", t.device());
    TORCH_CHECK(t.is_contiguous(), where(), ": ", op, " needs a contiguous tensor");
  }

  // Stops the heartbeat and drops the connections. After a failure a collective may still be in
  // flight in the backend's threads, and their destructors would wait for it: those objects are
  // kept until the process exits.
  void release() {
    if (destroyed) return;
    destroyed = true;
    stopHeartbeat();
    if (!failure().empty()) {
      static std::mutex kept_mutex;
      static auto* kept = new std::vector<c10::intrusive_ptr<c10::intrusive_ptr_target>>();
      std::lock_guard<std::mutex> lock(kept_mutex);
      kept->push_back(backend);
      kept->push_back(store);
    }
    backend.reset();
    prefixed.reset();
    store.reset();
  }
  ~Group() { release(); }

 private:
  mutable std::mutex failure_mutex_;
  std::string failure_;
  // Shared with the heartbeat thread, which may outlive the group (stopHeartbeat).
  struct Beat {
    std::mutex mutex;
    std::condition_variable wake;
    bool stop = false;
    bool ended = false;
  };
  std::shared_ptr<Beat> beat_ = std::make_shared<Beat>();
  std::thread heartbeat_;
};

class Work {
 public:
  std::shared_ptr<Group> group;
  c10::intrusive_ptr<c10d::Work> work;
  const char* op = "";
  at::Tensor tensor;  // kept alive while the backend works on it
  std::vector<at::Tensor> outputs;
  ReduceOp reduce = ReduceOp::Sum;
  bool done = false;
};

std::shared_ptr<Group> initGroup(const GroupOptions& o) {
  TORCH_CHECK(o.world_size >= 1, "distributed: WORLD_SIZE must be at least 1, got ", o.world_size);
  TORCH_CHECK(o.rank >= 0 && o.rank < o.world_size, "distributed: RANK must be in [0, ", o.world_size, "), got ", o.rank);
  TORCH_CHECK(o.master_port >= 1 && o.master_port <= 65535, "distributed: MASTER_PORT must be in [1, 65535], got ", o.master_port);
  TORCH_CHECK(!o.master_addr.empty(), "distributed: MASTER_ADDR is empty");
  TORCH_CHECK(o.backend == "gloo" || o.backend == "nccl", "distributed: backend must be 'gloo' or 'nccl', got '", o.backend, "'");
#ifndef TORCH_RLHF_NCCL
  TORCH_CHECK(o.backend != "nccl",
              "distributed: this build of torch-rlhf has no NCCL (it is compiled into the CUDA variant "
              "only); use the 'gloo' backend for CPU tensors");
#endif
  QuietC10d quiet;
  auto g = std::make_shared<Group>();
  g->options = o;
  const std::string at = o.master_addr + ":" + std::to_string(o.master_port);
  const bool server = o.host_store && o.rank == 0;
  try {
    g->store = within(o.join_timeout + kStoreSlack, [o, server] { return connectStore(o, server, o.join_timeout); });
  } catch (const StoreTimeout& t) {
    TORCH_CHECK(false, g->where(), ": ", silentStore(o, t.waited));
  } catch (const std::exception& e) {
    const std::string m = message(e);
    if (server && (contains(m, "EADDRINUSE") || contains(m, "address already in use") || contains(m, "Address already in use")))
      TORCH_CHECK(false, g->where(), ": MASTER_PORT ", o.master_port, " on ", o.master_addr,
                  " is already in use, so rank 0 cannot host the TCPStore there; choose a free port (", m, ")");
    if (server) TORCH_CHECK(false, g->where(), ": could not host the TCPStore at ", at, ": ", m);
    TORCH_CHECK(false, g->where(), ": could not reach the TCPStore at ", at, " within ", seconds(o.join_timeout),
                " (is rank 0 running, with the same MASTER_ADDR and MASTER_PORT?): ", m);
  }
  g->prefixed = c10::make_intrusive<c10d::PrefixStore>(o.prefix, g->store);

  // The join: every rank leaves its key and world size, then waits for all the others'. Each
  // store call is bounded (within): a frozen rank 0 answers none. A live store answers all but
  // wait() at once, so those get the collective timeout (the user's ddp timeout).
  const auto s = g->prefixed;
  const auto quick = std::min(o.timeout, o.join_timeout);
  const std::string ws = std::to_string(o.world_size);
  std::vector<std::string> keys;
  for (int64_t r = 0; r < o.world_size; ++r) keys.push_back("joined/" + std::to_string(r));
  std::vector<std::vector<uint8_t>> sizes;
  int64_t arrivals = 0;
  try {
    arrivals = within(quick, [s, ws, key = keys[o.rank]] {
      s->set(key, std::vector<uint8_t>(ws.begin(), ws.end()));
      return s->add("joined/count", 1);
    });
    try {
      within(o.join_timeout + kStoreSlack, [s, keys, limit = o.join_timeout] { s->wait(keys, limit); });
    } catch (const StoreTimeout&) {
      throw;
    } catch (const std::exception& e) {
      const auto missing = within(quick, [s, keys] {
        std::vector<int64_t> out;
        for (size_t r = 0; r < keys.size(); ++r)
          if (!s->check({keys[r]})) out.push_back(static_cast<int64_t>(r));
        return out;
      });
      if (missing.empty()) TORCH_CHECK(false, g->where(), ": the join failed: ", message(e));
      TORCH_CHECK(false, g->where(), ": ", (missing.size() == 1 ? "rank " : "ranks "), rankList(missing),
                  (missing.size() == 1 ? " has" : " have"), " not joined within ", seconds(o.join_timeout), " (TCPStore at ", at,
                  "); start every rank with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE");
    }
    sizes = within(quick, [s, keys] {
      std::vector<std::vector<uint8_t>> out;
      for (const auto& k : keys) out.push_back(s->get(k));
      return out;
    });
  } catch (const StoreTimeout& t) {
    TORCH_CHECK(false, g->where(), ": ", silentStore(o, t.waited));
  }
  TORCH_CHECK(arrivals <= o.world_size, g->where(), ": more processes joined than WORLD_SIZE ", o.world_size,
              " (two of them with the same RANK?)");
  for (int64_t r = 0; r < o.world_size; ++r) {
    const std::string theirs(sizes[r].begin(), sizes[r].end());
    TORCH_CHECK(theirs == ws, g->where(), ": rank ", r, " was started with WORLD_SIZE ", theirs, ", this one with ", ws);
  }
  g->startHeartbeat();

  // The backend's own rendezvous goes through the store (its waits bounded by the store's and
  // the backend's timeouts, its replies not): bounded as a whole.
  auto backend_store = c10::make_intrusive<c10d::PrefixStore>(o.backend + "/", g->prefixed);
  try {
    g->backend = within(std::max(o.timeout, o.join_timeout) + kStoreSlack, [o, backend_store]() -> c10::intrusive_ptr<c10d::Backend> {
      if (o.backend == "gloo") {
        auto opts = c10d::ProcessGroupGloo::Options::create(o.timeout);
        const bool loopback = o.master_addr == "localhost" || o.master_addr.rfind("127.", 0) == 0 || o.master_addr == "::1";
        if (!o.gloo_interface.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(o.gloo_interface));
        else if (loopback) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        return c10::make_intrusive<c10d::ProcessGroupGloo>(backend_store, static_cast<int>(o.rank), static_cast<int>(o.world_size), opts);
      }
#ifdef TORCH_RLHF_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = o.timeout;
      return c10::make_intrusive<c10d::ProcessGroupNCCL>(backend_store, static_cast<int>(o.rank), static_cast<int>(o.world_size), opts);
#else
      TORCH_CHECK(false, "no NCCL in this build");
#endif
    });
  } catch (const StoreTimeout& t) {
    TORCH_CHECK(false, g->where(), ": could not connect the ", o.backend, " backend: ", silentStore(o, t.waited));
  } catch (const std::exception& e) {
    TORCH_CHECK(false, g->where(), ": could not connect the ", o.backend, " backend: ", message(e));
  }
  return g;
}

int64_t rank(const Group& g) { return g.options.rank; }
int64_t worldSize(const Group& g) { return g.options.world_size; }
std::string backendName(const Group& g) { return g.options.backend; }

namespace {
std::shared_ptr<Work> started(const std::shared_ptr<Group>& g, const char* op, c10::intrusive_ptr<c10d::Work> w, at::Tensor t) {
  auto out = std::make_shared<Work>();
  out->group = g;
  out->op = op;
  out->work = std::move(w);
  out->tensor = std::move(t);
  return out;
}
}  // namespace

std::shared_ptr<Work> allReduce(const std::shared_ptr<Group>& gp, const at::Tensor& tensor, ReduceOp op) {
  Group& g = *gp;
  g.check("allReduce");
  g.checkTensor("allReduce", tensor);
  c10d::AllreduceOptions o;
  TORCH_CHECK(op != ReduceOp::Avg || at::isFloatingType(tensor.scalar_type()), g.where(),
              ": allReduce 'avg' needs a floating-point tensor, got ", tensor.scalar_type(), " (use 'sum')");
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Avg: o.reduceOp = c10d::ReduceOp::SUM; break;  // Gloo has no AVG: sum, then divide
    case ReduceOp::Max: o.reduceOp = c10d::ReduceOp::MAX; break;
    case ReduceOp::Min: o.reduceOp = c10d::ReduceOp::MIN; break;
    case ReduceOp::Product: o.reduceOp = c10d::ReduceOp::PRODUCT; break;
  }
  o.timeout = g.options.timeout;
  std::vector<at::Tensor> ts{tensor};
  auto w = started(gp, "allReduce", g.backend->allreduce(ts, o), tensor);
  w->reduce = op;
  return w;
}

std::shared_ptr<Work> broadcast(const std::shared_ptr<Group>& gp, const at::Tensor& tensor, int64_t root) {
  Group& g = *gp;
  g.check("broadcast");
  g.checkTensor("broadcast", tensor);
  TORCH_CHECK(root >= 0 && root < g.options.world_size, g.where(), ": broadcast root must be in [0, ", g.options.world_size, "), got ",
              root);
  c10d::BroadcastOptions o;
  o.rootRank = root;
  o.timeout = g.options.timeout;
  std::vector<at::Tensor> ts{tensor};
  auto w = started(gp, "broadcast", g.backend->broadcast(ts, o), tensor);
  return w;
}

std::shared_ptr<Work> allGather(const std::shared_ptr<Group>& gp, const at::Tensor& input) {
  Group& g = *gp;
  g.check("allGather");
  g.checkTensor("allGather", input);
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int64_t r = 0; r < g.options.world_size; ++r) outputs[0].push_back(at::empty_like(input));
  std::vector<at::Tensor> inputs{input};
  c10d::AllgatherOptions o;
  o.timeout = g.options.timeout;
  auto w = started(gp, "allGather", g.backend->allgather(outputs, inputs, o), input);
  w->outputs = outputs[0];
  return w;
}

std::shared_ptr<Work> barrier(const std::shared_ptr<Group>& gp) {
  Group& g = *gp;
  g.check("barrier");
  c10d::BarrierOptions o;
  o.timeout = g.options.timeout;
  auto w = started(gp, "barrier", g.backend->barrier(o), at::Tensor());
  return w;
}

std::vector<at::Tensor> wait(Work& w) {
  if (w.done) return w.outputs;
  Group& g = *w.group;
  try {
    w.work->wait(g.options.timeout);
  } catch (const std::exception& e) {
    const std::string cause = message(e);
    std::ostringstream m;
    m << g.where() << ": " << w.op << " failed";
    if (contains(cause, "timed out") || contains(cause, "Timed out")) m << " after the timeout of " << seconds(g.options.timeout);
    m << ": " << g.diagnose() << ". (" << g.options.backend << ": " << cause << ")";
    g.fail(m.str());
    TORCH_CHECK(false, m.str());
  }
  if (w.reduce == ReduceOp::Avg) w.tensor.div_(g.options.world_size);
  w.done = true;
  w.tensor = at::Tensor();
  return w.outputs;
}

void destroy(Group& g) { g.release(); }

}  // namespace torch_rlhf::dist
