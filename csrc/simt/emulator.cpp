#include "simt/emulator.h"

#include <ucontext.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#include "simt/fibers.h"

namespace phnet::simt {

thread_local ThreadState* tls_thread = nullptr;

namespace {

std::mutex g_mutex;  // guards g_config and g_last_launch
Config g_config;
LaunchRecord g_last_launch;
std::int64_t g_launches = 0;  // since the last set_config: each launch draws its own order

enum class FiberStatus { kRunnable, kAtBarrier, kExited };

struct Fiber {
  ucontext_t context;
  ThreadState state;
  FiberStatus status;
};

// One static shared array of the running block: the PHNET_SHARED declaration it belongs to and
// its place in the arena.
struct SharedArray {
  const void* site;
  std::size_t offset;
  std::size_t bytes;
};

std::string describe(dim3 d) {
  std::ostringstream os;
  os << "(" << d.x << ", " << d.y << ", " << d.z << ")";
  return os.str();
}

std::string describe(uint3 d) { return describe(dim3(d.x, d.y, d.z)); }

}  // namespace

// The block being run: its fibers, its shared memory and the scheduler they return to.
struct Block {
  const char* kernel = nullptr;
  Faults faults;
  void (*body)(const void*) = nullptr;
  const void* body_context = nullptr;
  std::vector<Fiber> fibers;
  ucontext_t scheduler;
  // Shared memory: the dynamic part at offset 0, then the static arrays in the order the
  // block's threads first reach their declarations.
  alignas(256) unsigned char shared[kMaxSharedBytes];
  std::size_t dynamic_bytes = 0;
  std::size_t shared_end = 0;  // end of the last array placed
  std::vector<SharedArray> arrays;
  std::exception_ptr error;  // the first exception thrown inside a fiber
  std::int64_t barrier_rounds = 0;
};

namespace {

Fiber& running_fiber(const char* what) {
  ThreadState* ts = tls_thread;
  if (ts == nullptr)
    throw LaunchError(std::string("phnet::simt: ") + what + " called outside a kernel launch");
  return ts->block->fibers[ts->linear_thread];
}

// Entry of every fiber: the kernel body for this thread. An exception must not leave the
// fiber's stack (nothing above this frame can catch it), so it is handed to the scheduler.
void fiber_main() {
  Fiber& fiber = running_fiber("a fiber");
  Block& block = *fiber.state.block;
  try {
    block.body(block.body_context);
  } catch (...) {
    if (!block.error) block.error = std::current_exception();
  }
  fiber.status = FiberStatus::kExited;
  // Returning continues in uc_link, the scheduler.
}

void check_launch_dims(const char* kernel, dim3 grid, dim3 block, std::size_t dynamic_bytes) {
  std::ostringstream why;
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0)
    why << "a grid or block dimension is 0";
  else if (block.x > kMaxBlockDimXY || block.y > kMaxBlockDimXY)
    why << "blockDim.x and blockDim.y must be <= " << kMaxBlockDimXY;
  else if (block.z > kMaxBlockDimZ)
    why << "blockDim.z must be <= " << kMaxBlockDimZ;
  else if (threads > kMaxBlockThreads)
    why << "a block has " << threads << " threads, more than " << kMaxBlockThreads;
  else if (grid.x > kMaxGridDimX)
    why << "gridDim.x must be <= " << kMaxGridDimX;
  else if (grid.y > kMaxGridDimYZ || grid.z > kMaxGridDimYZ)
    why << "gridDim.y and gridDim.z must be <= " << kMaxGridDimYZ;
  else if (dynamic_bytes > kMaxSharedBytes)
    why << "dynamic shared memory of " << dynamic_bytes << " bytes is over the " << kMaxSharedBytes
        << "-byte limit of a block";
  const std::string reason = why.str();
  if (!reason.empty())
    throw LaunchError("phnet::simt: launch of " + std::string(kernel) + " with grid " +
                      describe(grid) + ", block " + describe(block) + ", shared " +
                      std::to_string(dynamic_bytes) +
                      " bytes is over the hardware limits: " + reason);
}

// Runs one block to completion (or to the first report).
void run_block(Block& block, uint3 block_idx, dim3 grid, dim3 block_dim, StackPool& stacks,
               std::mt19937_64* rng) {
  block.arrays.clear();
  block.shared_end = block.dynamic_bytes;
  block.error = nullptr;
  std::memset(block.shared, 0xFF, block.dynamic_bytes);  // NaN in float and double

  uint3 seen = block_idx;  // what the kernel reads as blockIdx
  if (block.faults.block_index_shift > 0)
    seen.x = static_cast<unsigned int>(
        std::min<unsigned long long>(block_idx.x + block.faults.block_index_shift, grid.x - 1));

  const unsigned int count = static_cast<unsigned int>(block.fibers.size());
  for (unsigned int t = 0; t < count; ++t) {
    Fiber& f = block.fibers[t];
    const uint3 tid{t % block_dim.x, (t / block_dim.x) % block_dim.y,
                    t / (block_dim.x * block_dim.y)};
    f.state = ThreadState{tid, seen, block_dim, grid, t, 0, &block};
    f.status = FiberStatus::kRunnable;
    make_fiber(f.context, stacks.stack(t), &block.scheduler, fiber_main);
  }
  std::vector<unsigned int> order(count);
  std::iota(order.begin(), order.end(), 0u);

  for (int barrier = 1;; ++barrier) {
    if (rng != nullptr) std::shuffle(order.begin(), order.end(), *rng);
    for (const unsigned int t : order) {
      Fiber& f = block.fibers[t];
      if (f.status != FiberStatus::kRunnable) continue;
      tls_thread = &f.state;
      const int rc = swapcontext(&block.scheduler, &f.context);
      tls_thread = nullptr;
      if (rc != 0) throw LaunchError("phnet::simt: swapcontext failed");
      if (block.error) std::rethrow_exception(block.error);
    }
    unsigned int waiting = 0;
    for (const Fiber& f : block.fibers) waiting += f.status == FiberStatus::kAtBarrier;
    if (waiting == 0) return;  // every thread returned
    if (waiting < count) {
      std::ostringstream os;
      os << "phnet::simt: __syncthreads() in " << block.kernel << ", block " << describe(block_idx)
         << ": barrier " << barrier << " was reached by " << waiting << " of the block's " << count
         << " threads; the other " << (count - waiting)
         << " returned from the kernel without reaching it (a barrier must be reached by every "
            "thread of the block)";
      throw LaunchError(os.str());
    }
    for (Fiber& f : block.fibers) f.status = FiberStatus::kRunnable;
    ++block.barrier_rounds;
  }
}

}  // namespace

void set_config(const Config& config) {
  const std::lock_guard<std::mutex> lock(g_mutex);
  g_config = config;
  g_launches = 0;
  g_last_launch = LaunchRecord{};
}

Config config() {
  const std::lock_guard<std::mutex> lock(g_mutex);
  return g_config;
}

LaunchRecord last_launch() {
  const std::lock_guard<std::mutex> lock(g_mutex);
  return g_last_launch;
}

void syncthreads() {
  Fiber& fiber = running_fiber("__syncthreads()");
  ThreadState& ts = fiber.state;
  Block& block = *ts.block;
  const int k = ++ts.barriers_called;
  if (block.faults.skip_barrier == k) return;
  if (block.faults.exit_at_barrier == k && ts.linear_thread % 2 == 1) {
    fiber.status = FiberStatus::kExited;  // never resumed: it has left the kernel
    setcontext(&block.scheduler);
  }
  fiber.status = FiberStatus::kAtBarrier;
  swapcontext(&fiber.context, &block.scheduler);
}

void* static_shared(const void* site, std::size_t bytes, std::size_t align, const char* name) {
  Block& block = *running_fiber("a __shared__ declaration").state.block;
  for (const SharedArray& a : block.arrays)
    if (a.site == site) return block.shared + a.offset;
  const std::size_t offset = (block.shared_end + align - 1) / align * align;
  if (offset + bytes > kMaxSharedBytes) {
    std::ostringstream os;
    os << "phnet::simt: shared memory of " << block.kernel << ": the array '" << name << "' ("
       << bytes << " bytes) brings the block's shared memory to " << offset + bytes
       << " bytes, over the " << kMaxSharedBytes << "-byte limit of a block";
    throw LaunchError(os.str());
  }
  std::memset(block.shared + offset, 0xFF, bytes);  // NaN in float and double
  block.arrays.push_back({site, offset, bytes});
  block.shared_end = offset + bytes;
  return block.shared + offset;
}

void* dynamic_shared() { return running_fiber("dynamic shared memory").state.block->shared; }

void launch(const char* kernel, dim3 grid, dim3 block_dim, std::size_t dynamic_shared_bytes,
            void (*body)(const void* context), const void* context) {
  if (tls_thread != nullptr)
    throw LaunchError(std::string("phnet::simt: ") + kernel +
                      " launched from inside a kernel (dynamic parallelism is not emulated)");
  check_launch_dims(kernel, grid, block_dim, dynamic_shared_bytes);
  std::int64_t launch_number;
  Config cfg;
  {
    const std::lock_guard<std::mutex> lock(g_mutex);
    cfg = g_config;
    launch_number = g_launches++;
  }

  thread_local StackPool stacks;
  const unsigned int threads = block_dim.x * block_dim.y * block_dim.z;
  stacks.reserve(threads);

  auto block = std::make_unique<Block>();
  block->kernel = kernel;
  block->faults = cfg.faults;
  block->body = body;
  block->body_context = context;
  block->fibers.resize(threads);
  block->dynamic_bytes = dynamic_shared_bytes;

  std::mt19937_64 rng(cfg.seed * 0x9E3779B97F4A7C15ull + std::uint64_t(launch_number));
  std::mt19937_64* order_rng = cfg.seed != 0 ? &rng : nullptr;
  const std::uint64_t blocks = std::uint64_t(grid.x) * grid.y * grid.z;
  std::vector<std::uint64_t> order;
  if (order_rng != nullptr) {
    order.resize(blocks);
    std::iota(order.begin(), order.end(), std::uint64_t(0));
    std::shuffle(order.begin(), order.end(), rng);
  }
  for (std::uint64_t i = 0; i < blocks; ++i) {
    const std::uint64_t b = order_rng != nullptr ? order[i] : i;
    const uint3 idx{static_cast<unsigned int>(b % grid.x),
                    static_cast<unsigned int>((b / grid.x) % grid.y),
                    static_cast<unsigned int>(b / (std::uint64_t(grid.x) * grid.y))};
    run_block(*block, idx, grid, block_dim, stacks, order_rng);
  }

  const std::lock_guard<std::mutex> lock(g_mutex);
  g_last_launch =
      LaunchRecord{grid, block_dim, dynamic_shared_bytes, block->barrier_rounds, launch_number + 1};
}

}  // namespace phnet::simt
