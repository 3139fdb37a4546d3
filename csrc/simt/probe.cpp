// Self-test kernels of the SIMT emulator, registered in the test-only library as
// phnet_simt::probe and phnet_simt::probe_oversized_shared (python_tests/test_simt.py). They are
// written against simt/device.h like the project's kernels, but only the emulator runs them:
// they test the emulator itself (every block and thread runs once with the right indices, the
// barrier, per-block static and dynamic shared memory, the block order, the reports).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cstdint>
#include <vector>

#include "simt/device.h"

namespace phnet::simt {
namespace {

// Columns of the probe's record of one thread.
enum ProbeColumn : int {
  kBlockX,
  kBlockY,
  kBlockZ,
  kThreadX,
  kThreadY,
  kThreadZ,
  kTicket,       // the block's place in the execution order (thread 0 only, else -1)
  kNextStatic,   // what the next thread wrote into static shared memory before the barrier
  kPrevDynamic,  // what the previous thread wrote into dynamic shared memory (-1 when unused)
  kProbeColumns
};

__global__ void probe_kernel(int64_t* __restrict__ out,  // [blocks, threads, kProbeColumns]
                             int* __restrict__ ticket,   // [1], zeroed
                             bool use_dynamic_shared, bool odd_threads_exit) {
  PHNET_SHARED(int64_t, ring, kMaxBlockThreads);
  PHNET_DYNAMIC_SHARED(int64_t, extra);  // [threads] when use_dynamic_shared
  const unsigned int threads = blockDim.x * blockDim.y * blockDim.z;
  const unsigned int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int64_t block =
      blockIdx.x + int64_t(gridDim.x) * (blockIdx.y + int64_t(gridDim.y) * blockIdx.z);
  const int64_t id = block * threads + t;
  int64_t* row = out + id * kProbeColumns;
  row[kBlockX] = blockIdx.x;
  row[kBlockY] = blockIdx.y;
  row[kBlockZ] = blockIdx.z;
  row[kThreadX] = threadIdx.x;
  row[kThreadY] = threadIdx.y;
  row[kThreadZ] = threadIdx.z;
  row[kTicket] = t == 0 ? atomicAdd(ticket, 1) : -1;
  if (odd_threads_exit && t % 2 == 1) return;  // a bug: the barrier below is then not reached
  ring[t] = id;
  if (use_dynamic_shared) extra[t] = -id;
  __syncthreads();
  row[kNextStatic] = ring[(t + 1) % threads];
  row[kPrevDynamic] = use_dynamic_shared ? extra[(t + threads - 1) % threads] : -1;
}

// 48 KiB + 8 bytes of static shared memory: over the limit of a block (nvcc would refuse it at
// compile time; the emulator reports it at run time).
__global__ void oversized_shared_kernel(double* __restrict__ out) {  // [1]
  PHNET_SHARED(double, too_big, kMaxSharedBytes / sizeof(double) + 1);
  too_big[0] = 1.0;
  out[0] = too_big[0];
}

dim3 dims(const char* name, const std::vector<int64_t>& v) {
  TORCH_CHECK(v.size() == 3, "phnet_simt::probe: argument '", name,
              "' must have 3 entries (x, y, z), got ", v.size());
  for (const int64_t d : v)
    TORCH_CHECK(d >= 0 && d <= int64_t(kMaxGridDimX) + 1, "phnet_simt::probe: argument '", name,
                "' entries must be in [0, 2^31], got ", d);
  return dim3(unsigned(v[0]), unsigned(v[1]), unsigned(v[2]));
}

// [blocks, threads, kProbeColumns] int64, blocks and threads in linear (x fastest) order.
at::Tensor probe(std::vector<int64_t> grid_dims, std::vector<int64_t> block_dims,
                 int64_t dynamic_shared_bytes, bool odd_threads_exit) {
  const dim3 grid = dims("grid", grid_dims), block = dims("block", block_dims);
  const int64_t blocks = int64_t(grid.x) * grid.y * grid.z;
  const int64_t threads = int64_t(block.x) * block.y * block.z;
  TORCH_CHECK(blocks * threads <= (int64_t(1) << 22), "phnet_simt::probe: at most 2^22 threads ",
              "(a small self-test), got grid ", grid_dims, " and block ", block_dims);
  TORCH_CHECK(dynamic_shared_bytes >= 0, "phnet_simt::probe: argument 'dynamic_shared_bytes' ",
              "must be >= 0, got ", dynamic_shared_bytes);
  at::Tensor out = at::empty({blocks, threads, kProbeColumns}, at::kLong);
  at::Tensor ticket = at::zeros({1}, at::kInt);
  const bool use_dynamic = dynamic_shared_bytes >= threads * int64_t(sizeof(int64_t));
  PHNET_LAUNCH(probe_kernel, grid, block, size_t(dynamic_shared_bytes), Stream{})(
      out.data_ptr<int64_t>(), ticket.data_ptr<int>(), use_dynamic, odd_threads_exit);
  return out;
}

at::Tensor probe_oversized_shared() {
  at::Tensor out = at::zeros({1}, at::kDouble);
  PHNET_LAUNCH(oversized_shared_kernel, 1, 1, 0, Stream{})(out.data_ptr<double>());
  return out;
}

}  // namespace
}  // namespace phnet::simt

TORCH_LIBRARY_FRAGMENT(phnet_simt, m) {
  // Runs the self-test kernel: every thread records its indices, its block's execution order
  // and what its neighbours wrote into shared memory before a barrier -> [blocks, threads, 9].
  m.def(
      "probe(int[] grid, int[] block, int dynamic_shared_bytes=0, bool odd_threads_exit=False) "
      "-> Tensor",
      &phnet::simt::probe);
  // Launches a kernel with 48 KiB + 8 bytes of static shared memory (must be reported).
  m.def("probe_oversized_shared() -> Tensor", &phnet::simt::probe_oversized_shared);
}
