// Where the launchers (kernels/*_launch.h) run their kernels: the one place where they differ
// between the GPU (compiled by nvcc: the tensors' CUDA device, its current stream) and the SIMT
// emulator (host C++: synchronous launches, block size and grid cap from simt::config(), so
// that the tests can make every grid-stride loop run several rounds).
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include "kernels/common.cuh"

namespace phnet {

#if defined(__CUDACC__)

class LaunchContext {
 public:
  // Kernels run on the device of `on` (a tensor of the op, any shape), in its current stream.
  explicit LaunchContext(const at::Tensor& on)
      : guard_(on.device()), stream_(c10::cuda::getCurrentCUDAStream()) {}

  cudaStream_t stream() const { return stream_; }
  unsigned int block_threads() const { return kThreads; }
  unsigned int max_grid_dim() const { return 65535; }

  // A buffer that the kernel must overwrite completely.
  at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options) const {
    return at::empty(sizes, options);
  }

  // After each launch: reports a bad launch configuration at once.
  void check() const { C10_CUDA_KERNEL_LAUNCH_CHECK(); }

 private:
  c10::cuda::CUDAGuard guard_;  // constructed first: the stream is the guarded device's
  cudaStream_t stream_;
};

#else  // the SIMT emulator

class LaunchContext {
 public:
  explicit LaunchContext(const at::Tensor& /*on: a CPU tensor of the op, any shape*/)
      : config_(simt::config()) {}

  simt::Stream stream() const { return {}; }
  unsigned int block_threads() const { return config_.block_threads; }
  unsigned int max_grid_dim() const { return config_.max_grid_dim; }

  // A buffer that the kernel must overwrite completely: NaN-filled when the tests ask for it,
  // so that an entry the kernel misses shows up in the results.
  at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options) const {
    at::Tensor out = at::empty(sizes, options);
    if (config_.prefill_nan) out.fill_(std::numeric_limits<double>::quiet_NaN());
    return out;
  }

  // Launches are synchronous, and every problem is thrown as simt::LaunchError.
  void check() const {}

 private:
  simt::Config config_;
};

#endif

// Blocks for a grid-stride loop over `work` items, one per thread (capped: the loop covers the
// rest).
inline unsigned int grid_blocks(const LaunchContext& launch, int64_t work) {
  const int64_t threads = launch.block_threads();
  const int64_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned int>(
      std::max<int64_t>(1, std::min<int64_t>(blocks, launch.max_grid_dim())));
}

}  // namespace phnet
