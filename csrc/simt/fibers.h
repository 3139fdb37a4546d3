// Stacks and contexts of the SIMT emulator's fibers (one fiber per emulated CUDA thread), on
// POSIX ucontext: makecontext starts a fiber on its own stack, swapcontext switches between a
// fiber and the block scheduler (emulator.cpp).
#pragma once

#include <ucontext.h>

#include <cstddef>

namespace phnet::simt {

// Stack of each fiber. The kernels keep their element vectors in locals (a few KiB); 64 KiB
// leaves room for unoptimised builds and for the exception thrown by a report.
constexpr std::size_t kFiberStackBytes = 64 * 1024;

// Fiber stacks, reused by every block of every launch on one OS thread. Each stack has an
// inaccessible guard page below it, so that an overflow faults at once instead of silently
// overwriting the neighbouring fiber's stack.
class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  // Makes at least `count` stacks available (earlier ones keep their addresses only until the
  // pool grows, which happens between blocks, never while fibers run).
  void reserve(std::size_t count);
  void* stack(std::size_t i) const;

 private:
  void* base_ = nullptr;  // `count_` slots of guard page + stack
  std::size_t count_ = 0;
  std::size_t slot_bytes_ = 0;
};

// Prepares `fiber` to run entry() on `stack` (kFiberStackBytes); when entry returns, execution
// continues in `link`.
void make_fiber(ucontext_t& fiber, void* stack, ucontext_t* link, void (*entry)());

}  // namespace phnet::simt
