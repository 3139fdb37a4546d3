// The test-only op library _phnet_simt.so (namespace phnet_simt): the ops of phnet_cuda with the
// same schemas (op_schemas.h), whose CPU kernels run the CUDA kernels of kernels/ through the
// SIMT emulator (simt/*_simt.cpp), plus the emulator's controls. Loaded only by the tests
// (phnet_cuda._lib.load_simt_library), never by `import phnet_cuda`.
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common.cuh"
#include "op_schemas.h"
#include "phnet_build_config.h"
#include "simt/emulator.h"

namespace phnet::simt {
namespace {

void configure(int64_t max_grid_dim, int64_t block_threads, int64_t seed, bool prefill_nan,
               int64_t block_index_shift, int64_t skip_barrier, int64_t exit_at_barrier) {
  const char* op = "phnet_simt::configure";
  TORCH_CHECK(max_grid_dim >= 1 && max_grid_dim <= kMaxGridDimYZ, op,
              ": argument 'max_grid_dim' must be in [1, ", kMaxGridDimYZ, "], got ", max_grid_dim);
  TORCH_CHECK(
      block_threads >= 1 && block_threads <= kThreads && (block_threads & (block_threads - 1)) == 0,
      op, ": argument 'block_threads' must be a power of two in [1, ", kThreads,
      "] (block_sum's shared buffers have kThreads entries), got ", block_threads);
  TORCH_CHECK(seed >= 0, op, ": argument 'seed' must be >= 0 (0: grid order), got ", seed);
  TORCH_CHECK(
      block_index_shift >= 0 && skip_barrier >= 0 && exit_at_barrier >= 0, op,
      ": the fault arguments must be >= 0 (0: off), got block_index_shift = ", block_index_shift,
      ", skip_barrier = ", skip_barrier, ", exit_at_barrier = ", exit_at_barrier);
  Config c;
  c.max_grid_dim = static_cast<unsigned int>(max_grid_dim);
  c.block_threads = static_cast<unsigned int>(block_threads);
  c.seed = static_cast<std::uint64_t>(seed);
  c.prefill_nan = prefill_nan;
  c.faults.block_index_shift = static_cast<int>(block_index_shift);
  c.faults.skip_barrier = static_cast<int>(skip_barrier);
  c.faults.exit_at_barrier = static_cast<int>(exit_at_barrier);
  set_config(c);
}

// [grid x, y, z, block x, y, z, dynamic shared bytes, barrier rounds] of the latest launch, and
// the number of launches since the last configure.
std::vector<int64_t> last_launch_record() {
  const LaunchRecord r = last_launch();
  return {r.grid.x,
          r.grid.y,
          r.grid.z,
          r.block.x,
          r.block.y,
          r.block.z,
          static_cast<int64_t>(r.dynamic_shared_bytes),
          r.barrier_rounds,
          r.launches};
}

std::string source_hash() { return PHNET_BUILD_SOURCE_HASH; }

}  // namespace
}  // namespace phnet::simt

TORCH_LIBRARY(phnet_simt, m) {
  for (const char* schema : phnet::kOpSchemas) m.def(schema);
  // Emulator settings for every later launch (process-wide): the launchers' grid cap and block
  // size, the seed of the block and thread order (0: in order), NaN prefill of the outputs
  // that a kernel must overwrite, and the planted faults (simt::Faults; 0: off).
  m.def(
      "configure(int max_grid_dim=65535, int block_threads=256, int seed=0, bool "
      "prefill_nan=False, int block_index_shift=0, int skip_barrier=0, int exit_at_barrier=0) -> "
      "()",
      &phnet::simt::configure);
  // [grid x, y, z, block x, y, z, dynamic shared bytes, barrier rounds, launches since configure]
  m.def("last_launch() -> int[]", &phnet::simt::last_launch_record);
  // The csrc/ source hash this library was built from (as phnet::build_info reports it).
  m.def("source_hash() -> str", &phnet::simt::source_hash);
}
