#include "fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include "onenip/core/error.hpp"

// Under AddressSanitizer every stack switch is announced, or it takes the fiber's stack for a
// corrupted one of the scheduler's.
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define ONENIP_ASAN_FIBERS 1
#else
#define ONENIP_ASAN_FIBERS 0
#endif
// Under ThreadSanitizer too: each fiber gets its own TSan context (its shadow call stack), and a
// switch synchronises, so the fibers of one OS thread are never reported as racing each other.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ONENIP_TSAN_FIBERS 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(ONENIP_TSAN_FIBERS)
#define ONENIP_TSAN_FIBERS 1
#endif
#ifndef ONENIP_TSAN_FIBERS
#define ONENIP_TSAN_FIBERS 0
#endif
#if ONENIP_TSAN_FIBERS
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__x86_64__)
// switch(save, target): push the callee-saved registers and the SSE/x87 control words, store the
// stack pointer in *save, load `target` and pop the same from it.
extern "C" void onenip_simt_switch(void** save, void* target);
asm(R"(
  .text
  .globl onenip_simt_switch
  .type onenip_simt_switch, @function
onenip_simt_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size onenip_simt_switch, .-onenip_simt_switch
)");
#else
#include <ucontext.h>
#endif

namespace onenip::simt {

namespace {
size_t page_size() { return size_t(sysconf(_SC_PAGESIZE)); }
}  // namespace

Fiber::Fiber(size_t stack_bytes) {
  const size_t page = page_size();
  mapping_bytes_ = (stack_bytes + page - 1) / page * page + page;
  void* m = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ONENIP_CHECK(m != MAP_FAILED, "SIMT emulator: cannot map a ", stack_bytes, "-byte fiber stack");
  mapping_ = static_cast<char*>(m);
  mprotect(mapping_, page, PROT_NONE);  // guard page: a stack overflow faults instead of corrupting
#if ONENIP_TSAN_FIBERS
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
#if !defined(__x86_64__)
  ucontext_ = new ucontext_t[2];
#endif
}

Fiber::~Fiber() {
#if ONENIP_TSAN_FIBERS
  __tsan_destroy_fiber(tsan_fiber_);
#endif
  munmap(mapping_, mapping_bytes_);
#if !defined(__x86_64__)
  delete[] static_cast<ucontext_t*>(ucontext_);
#endif
}

// Announced to ThreadSanitizer immediately before the switch itself, as its interface asks.
void Fiber::tsan_switch_in() {
#if ONENIP_TSAN_FIBERS
  tsan_caller_ = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(tsan_fiber_, 0);
#endif
}
// A fiber's run ends by yielding for the last time, never returning from its frames: a reused
// fiber gets a new TSan context, or the frames of every earlier run pile up on its shadow stack.
void Fiber::tsan_fresh_context() {
#if ONENIP_TSAN_FIBERS
  __tsan_destroy_fiber(tsan_fiber_);
  tsan_fiber_ = __tsan_create_fiber(0);
#endif
}
void Fiber::tsan_switch_out() {
#if ONENIP_TSAN_FIBERS
  __tsan_switch_to_fiber(tsan_caller_, 0);
#endif
}

bool Fiber::contains(const void* p) const {
  auto a = reinterpret_cast<uintptr_t>(p), lo = reinterpret_cast<uintptr_t>(mapping_);
  return a >= lo && a < lo + mapping_bytes_;
}

#if defined(__x86_64__)
void Fiber::reset(Entry entry) {
  tsan_fresh_context();
#if ONENIP_ASAN_FIBERS
  // A fiber abandoned mid-run leaves its frames' redzones poisoned: the stack starts clean.
  __asan_unpoison_memory_region(mapping_ + page_size(), mapping_bytes_ - page_size());
#endif
  auto top = reinterpret_cast<uintptr_t>(mapping_ + mapping_bytes_) & ~uintptr_t(15);
  auto* frame = reinterpret_cast<uint64_t*>(top - 72);
  frame[0] = 0x1F80u | (uint64_t(0x037Fu) << 32);  // default MXCSR, x87 control word
  for (int r = 1; r <= 6; ++r) frame[r] = 0;         // r15 r14 r13 r12 rbx rbp
  frame[7] = reinterpret_cast<uint64_t>(entry);      // `ret` enters entry as if called ...
  frame[8] = 0;                                      // ... from nowhere (entry never returns)
  sp_ = frame;
}
void Fiber::resume() {
#if ONENIP_ASAN_FIBERS
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, mapping_ + page_size(), mapping_bytes_ - page_size());
#endif
  tsan_switch_in();
  onenip_simt_switch(&caller_sp_, sp_);
#if ONENIP_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}
void Fiber::yield_to_scheduler() {
#if ONENIP_ASAN_FIBERS
  __sanitizer_start_switch_fiber(&asan_fake_stack_, caller_bottom_, caller_size_);
#endif
  tsan_switch_out();
  onenip_simt_switch(&sp_, caller_sp_);
#if ONENIP_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(asan_fake_stack_, &caller_bottom_, &caller_size_);
#endif
}
#else
void Fiber::reset(Entry entry) {
  tsan_fresh_context();
  auto* ctx = static_cast<ucontext_t*>(ucontext_);
  getcontext(&ctx[0]);
  ctx[0].uc_stack.ss_sp = mapping_ + page_size();
  ctx[0].uc_stack.ss_size = mapping_bytes_ - page_size();
  ctx[0].uc_link = nullptr;
  makecontext(&ctx[0], entry, 0);
}
void Fiber::resume() {
  auto* ctx = static_cast<ucontext_t*>(ucontext_);
  tsan_switch_in();
  swapcontext(&ctx[1], &ctx[0]);
}
void Fiber::yield_to_scheduler() {
  auto* ctx = static_cast<ucontext_t*>(ucontext_);
  tsan_switch_out();
  swapcontext(&ctx[0], &ctx[1]);
}
#endif

void Fiber::entered() {
#if ONENIP_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(nullptr, &caller_bottom_, &caller_size_);
#endif
}

}  // namespace onenip::simt
