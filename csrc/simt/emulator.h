// The host SIMT emulator: runs the project's CUDA kernels (written against simt/device.h) on a
// CPU, so that the CUDA sources are executed by the test suite on machines without a GPU.
//
// Execution model (emulator.cpp):
//  * A launch runs its blocks one after another on the calling OS thread, in order or, with a
//    seed, in a seeded random order (no kernel may depend on the order of its blocks).
//  * The threads of a block are cooperative fibers (ucontext, fibers.h). A fiber runs until it
//    reaches __syncthreads() or returns; when every live thread of the block waits at the
//    barrier, all are released. A barrier that some threads reach while the others have
//    returned is reported (on a GPU it hangs or silently misbehaves).
//  * threadIdx / blockIdx / blockDim / gridDim read the running fiber's state; shared memory
//    (PHNET_SHARED, PHNET_DYNAMIC_SHARED) is one arena per block, filled with NaN bytes before
//    each block so that a read before a write shows up in the results.
//  * Launch dimensions and shared memory sizes over the hardware limits are reported.
//  * No warp-level primitives (shuffles, ballots, __syncwarp): no kernel uses them, and each
//    thread is scheduled on its own, which is the strictest model of independent thread
//    scheduling (sm_70 and later).
// Every report is a LaunchError (a std::runtime_error; a RuntimeError in Python).
//
// Configuration (set_config) is process-wide; the test-only op library phnet_simt exposes it as
// phnet_simt::configure. Fault injection (Faults) plants bugs at run time, to show that the
// tests comparing emulated kernels with the CPU ops catch them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace phnet::simt {

struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1)
      : x(x_), y(y_), z(z_) {}
};

// The launch limits of every NVIDIA GPU since compute capability 3.0 (the ones the CUDA
// programming guide lists for sm_80 and sm_90 too). Shared memory: 48 KiB per block without an
// explicit opt-in (cudaFuncSetAttribute), which no launcher of this project makes.
constexpr unsigned int kMaxBlockThreads = 1024;
constexpr unsigned int kMaxBlockDimXY = 1024;
constexpr unsigned int kMaxBlockDimZ = 64;
constexpr unsigned int kMaxGridDimX = 2147483647u;
constexpr unsigned int kMaxGridDimYZ = 65535;
constexpr std::size_t kMaxSharedBytes = 48 * 1024;

// Bugs planted at run time (0 = off), applied to every block of every launch.
struct Faults {
  // blockIdx.x reads k higher than the block really is, clamped to the last block: block 0's
  // work is never done and the last block's is done twice, while every index stays in range.
  int block_index_shift = 0;
  // The k-th __syncthreads() that each thread of a block executes returns without waiting (a
  // missing barrier).
  int skip_barrier = 0;
  // At its k-th __syncthreads(), every odd thread of a block returns from the kernel instead
  // (an early return before a barrier); the emulator must report the barrier.
  int exit_at_barrier = 0;
};

struct Config {
  // Largest grid dimension the launchers choose (LaunchContext::max_grid_dim): small values make
  // every grid-stride loop run several rounds.
  unsigned int max_grid_dim = kMaxGridDimYZ;
  // Threads per block of the launchers (a power of two <= kThreads of kernels/common.cuh).
  unsigned int block_threads = 256;
  // 0: blocks in grid order and threads in index order; otherwise the seed of the random order
  // of the blocks of a launch and of the threads of a block between two barriers.
  std::uint64_t seed = 0;
  // Outputs that a kernel must overwrite completely are filled with NaN before the launch.
  bool prefill_nan = false;
  Faults faults;
};

// Also restarts the launch count, so that a seed gives the same orders after every set_config.
void set_config(const Config& config);
Config config();

class LaunchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Block;

// What the built-in variables of the running fiber read.
struct ThreadState {
  uint3 thread_idx;
  uint3 block_idx;  // as the kernel sees it (after Faults::block_index_shift)
  dim3 block_dim;
  dim3 grid_dim;
  unsigned int linear_thread;  // x + blockDim.x * (y + blockDim.y * z)
  int barriers_called;         // __syncthreads() calls of this thread in this block
  Block* block;
};

// The running fiber's state; null outside a kernel.
extern thread_local ThreadState* tls_thread;

// The running fiber's state (throws LaunchError when called outside a kernel launch).
inline const ThreadState& this_thread() {
  if (tls_thread == nullptr) [[unlikely]]
    throw LaunchError("phnet::simt: a CUDA built-in variable was read outside a kernel launch");
  return *tls_thread;
}

// __syncthreads() of the running fiber.
void syncthreads();

// The block's copy of the static shared array declared at `site` (one address per
// declaration, see PHNET_SHARED), `bytes` long; filled with NaN bytes when the block first
// reaches the declaration.
void* static_shared(const void* site, std::size_t bytes, std::size_t align, const char* name);

// The block's dynamic shared memory (the launch's shared_bytes).
void* dynamic_shared();

// Runs body() as every thread of every block of the grid. `kernel` names it in reports.
void launch(const char* kernel, dim3 grid, dim3 block, std::size_t dynamic_shared_bytes,
            void (*body)(const void* context), const void* context);

// The most recent launch in this process, and how many there were since the last set_config.
struct LaunchRecord {
  dim3 grid, block;
  std::size_t dynamic_shared_bytes = 0;
  std::int64_t barrier_rounds = 0;  // barriers completed, summed over the blocks
  std::int64_t launches = 0;
};
LaunchRecord last_launch();

// The stream argument of PHNET_LAUNCH (the emulator runs every launch synchronously).
struct Stream {};

// kernel(args...) as a launch: the arguments are converted to the kernel's parameter types once
// (a CUDA launch copies them the same way), and every emulated thread calls the kernel with
// copies of them.
template <typename... Params>
class KernelLaunch {
 public:
  KernelLaunch(void (*kernel)(Params...), const char* name, dim3 grid, dim3 block,
               std::size_t dynamic_shared_bytes, Stream)
      : kernel_(kernel), name_(name), grid_(grid), block_(block), shared_(dynamic_shared_bytes) {}

  template <typename... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params),
                  "PHNET_LAUNCH: the number of arguments differs from the kernel's parameters");
    struct Context {
      void (*kernel)(Params...);
      std::tuple<std::decay_t<Params>...> params;
    };
    const Context context{kernel_,
                          std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
    launch(
        name_, grid_, block_, shared_,
        [](const void* c) {
          const Context& ctx = *static_cast<const Context*>(c);
          std::apply(ctx.kernel, ctx.params);
        },
        &context);
  }

 private:
  void (*kernel_)(Params...);
  const char* name_;
  dim3 grid_, block_;
  std::size_t shared_;
};

template <typename... Params>
KernelLaunch(void (*)(Params...), const char*, dim3, dim3, std::size_t, Stream)
    -> KernelLaunch<Params...>;

}  // namespace phnet::simt
