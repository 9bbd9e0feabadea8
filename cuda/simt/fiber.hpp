// Fibers for the SIMT emulator: one stack per emulated thread and a context switch that saves
// only what the calling convention says a callee keeps (x86-64: six registers and the FP control
// words, a few nanoseconds). Elsewhere it falls back to ucontext, which is slower (it saves the
// signal mask with a system call) but portable.
#pragma once

#include <cstddef>

namespace onenip::simt {

class Fiber {
public:
  using Entry = void (*)();

  explicit Fiber(size_t stack_bytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Prepare to run entry() from the top of the stack at the next resume(). entry never returns:
  // it ends by yield_to_scheduler() for the last time.
  void reset(Entry entry);
  // Run this fiber until it yields.
  void resume();
  // First thing a fresh fiber's entry calls (AddressSanitizer learns the stack it came from).
  void entered();
  // From inside a fiber: back to the resume() that ran it.
  void yield_to_scheduler();

  bool contains(const void* p) const;  // is p on this fiber's stack (its guard page included)?

private:
  void* sp_ = nullptr;        // the fiber's saved stack pointer
  void* caller_sp_ = nullptr; // the scheduler's, while the fiber runs
  char* mapping_ = nullptr;   // guard page + stack
  size_t mapping_bytes_ = 0;
  void* ucontext_ = nullptr;  // the fallback's contexts
  // AddressSanitizer's view of the switches (unused without it).
  void* asan_fake_stack_ = nullptr;
  const void* caller_bottom_ = nullptr;
  size_t caller_size_ = 0;
  // ThreadSanitizer's contexts for the fiber and for the code that resumed it (unused without it).
  void* tsan_fiber_ = nullptr;
  void* tsan_caller_ = nullptr;
  void tsan_switch_in();
  void tsan_switch_out();
  void tsan_fresh_context();
};

}  // namespace onenip::simt
