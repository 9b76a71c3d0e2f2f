// A process group over torch.distributed's own engine, c10d, for data-parallel training: a
// TCPStore for rendezvous (hosted by rank 0, or by torchrun's agent), ProcessGroupGloo for CPU
// tensors and, in the CUDA variant, ProcessGroupNCCL for CUDA tensors. Collectives are
// asynchronous (a Work to wait on, with a timeout), as torch.distributed's async_op=True.
//
// What torch.distributed leaves to Python and we do here: every rank keeps a heartbeat in the
// store from a native thread, so that when a collective fails or times out the survivors can
// say which rank stopped (a dead process stops beating; one stuck in a long computation does
// not), and the join is checked per rank, so that a rank that never arrives is named.
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch_rlhf::dist {

struct GroupOptions {
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  int64_t rank = 0;
  int64_t world_size = 1;
  std::string backend = "gloo";  // "gloo" | "nccl" (CUDA variant only)
  // Rank 0 hosts the TCPStore unless someone else does (torchrun's agent:
  // TORCHELASTIC_USE_AGENT_STORE=True).
  bool host_store = true;
  // Keys of this group live under this prefix (several groups, or restarts, share a store).
  std::string prefix = "torch_rlhf/";
  // How long a collective may take, and how long ranks wait for one another to join.
  std::chrono::milliseconds timeout{1800000};
  std::chrono::milliseconds join_timeout{300000};
  std::chrono::milliseconds heartbeat{500};
  // GLOO_SOCKET_IFNAME: the network interface Gloo binds to (empty: the master address's own).
  std::string gloo_interface;
};

enum class ReduceOp { Sum, Avg, Max, Min, Product };

class Group;
class Work;

// Rendezvous and connection; blocks until every rank has joined (or throws, naming the ranks
// that did not).
std::shared_ptr<Group> initGroup(const GroupOptions& options);

int64_t rank(const Group& g);
int64_t worldSize(const Group& g);
std::string backendName(const Group& g);

// The collectives work in place on their tensors (allGather fills fresh outputs); a tensor must
// not be touched until its Work is waited for.
// One contiguous tensor per call, as the backends want it (a bucket is one flat tensor).
std::shared_ptr<Work> allReduce(const std::shared_ptr<Group>& g, const at::Tensor& tensor, ReduceOp op);
std::shared_ptr<Work> broadcast(const std::shared_ptr<Group>& g, const at::Tensor& tensor, int64_t root);
std::shared_ptr<Work> allGather(const std::shared_ptr<Group>& g, const at::Tensor& input);
std::shared_ptr<Work> barrier(const std::shared_ptr<Group>& g);

// Blocks until the work is done or the group's timeout passes. On failure the error says which
// rank stopped (from the heartbeats) and the group is marked failed: later collectives throw.
// Returns allGather's outputs (one per rank), or nothing.
std::vector<at::Tensor> wait(Work& w);

// Stops the heartbeat and releases the connections (also done when the last reference goes). A
// group that failed keeps its c10d objects until the process exits (their destructors would
// wait for the collective in flight).
void destroy(Group& g);

}  // namespace torch_rlhf::dist
