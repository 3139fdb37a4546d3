#include "simt/fibers.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "simt/emulator.h"

namespace phnet::simt {
namespace {

std::size_t page_bytes() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

[[noreturn]] void fail(const char* what) {
  throw LaunchError(std::string("phnet::simt: ") + what + " failed: " + std::strerror(errno));
}

}  // namespace

StackPool::~StackPool() {
  if (base_ != nullptr) munmap(base_, count_ * slot_bytes_);
}

void StackPool::reserve(std::size_t count) {
  if (count <= count_) return;
  const std::size_t page = page_bytes();
  const std::size_t slot = page + kFiberStackBytes;  // guard page below each stack
  void* base =
      mmap(nullptr, count * slot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) fail("mmap of the fiber stacks");
  for (std::size_t i = 0; i < count; ++i)
    if (mprotect(static_cast<char*>(base) + i * slot, page, PROT_NONE) != 0)
      fail("mprotect of a fiber stack's guard page");
  if (base_ != nullptr) munmap(base_, count_ * slot_bytes_);
  base_ = base;
  count_ = count;
  slot_bytes_ = slot;
}

void* StackPool::stack(std::size_t i) const {
  return static_cast<char*>(base_) + i * slot_bytes_ + page_bytes();
}

void make_fiber(ucontext_t& fiber, void* stack, ucontext_t* link, void (*entry)()) {
  if (getcontext(&fiber) != 0) fail("getcontext");
  fiber.uc_stack.ss_sp = stack;
  fiber.uc_stack.ss_size = kFiberStackBytes;
  fiber.uc_link = link;
  makecontext(&fiber, entry, 0);
}

}  // namespace phnet::simt
