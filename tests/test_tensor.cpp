// Tensor core: creation, metadata, views sharing storage, contiguity, random numbers, errors,
// the kernels' parallel_for.
#include <algorithm>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include "helpers.hpp"

#include <onenip/core/caching_allocator.hpp>
#include <onenip/core/parallel.hpp>
#include <onenip/kernels/cpu/scratch.hpp>

using namespace onenip;
using testing::check_values;

TEST_CASE("creation: zeros, ones, full, arange, linspace, from data") {
  check_values(zeros<float>({2, 3}), {0, 0, 0, 0, 0, 0});
  check_values(ones<double>({2}), {1, 1});
  check_values(full<float>({3}, 2.5f), {2.5, 2.5, 2.5});
  check_values(arange<double>(0, 5), {0, 1, 2, 3, 4});
  check_values(arange<double>(1, 2, 0.25), {1, 1.25, 1.5, 1.75});
  check_values(linspace<double>(0, 1, 5), {0, 0.25, 0.5, 0.75, 1});
  auto t = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.strides() == Shape{3, 1});
  CHECK(t.at({1, 2}) == 6);
  CHECK(scalar_tensor<double>(3).dim() == 0);
  CHECK(scalar_tensor<double>(3).item() == 3);
  CHECK_THROWS_WITH_AS(tensor<float>({1, 2, 3}, {2, 2}), doctest::Contains("[2, 2]"), Error);
}

TEST_CASE("views share storage and see each other's writes") {
  auto t = arange<float>(0, 24).reshape({2, 3, 4});
  auto v = t.view({6, 4});
  auto p = t.permute({2, 0, 1});
  auto s = t.narrow(2, 1, 2);
  auto e = tensor<float>({1, 2, 3}, {3, 1}).expand({3, 4});
  CHECK(v.same_storage(t));
  CHECK(p.same_storage(t));
  CHECK(s.same_storage(t));
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Shape{1, 12, 4});
  CHECK(!p.is_contiguous());
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.at({1, 2, 1}) == 22);
  CHECK(e.strides() == Shape{1, 0});
  CHECK(e.at({2, 3}) == 3);
  // a write through one view is seen through the others
  NoGradGuard ng;
  t.at_ref({1, 2, 2}) = 100;
  CHECK(v.at({5, 2}) == 100);
  CHECK(p.at({2, 1, 2}) == 100);
  CHECK(s.at({1, 2, 1}) == 100);
}

TEST_CASE("transpose, slice with step, select, squeeze, unsqueeze, flatten") {
  auto t = arange<double>(0, 12).reshape({3, 4});
  check_values(t.transpose(0, 1), {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  check_values(t.slice(1, 0, 4, 2), {0, 2, 4, 6, 8, 10});
  check_values(t.slice(0, -2, 3), {4, 5, 6, 7, 8, 9, 10, 11});
  check_values(t.select(1, -1), {3, 7, 11});
  CHECK(t.unsqueeze(0).shape() == Shape{1, 3, 4});
  CHECK(t.unsqueeze(-1).shape() == Shape{3, 4, 1});
  CHECK(t.unsqueeze(1).squeeze(1).shape() == Shape{3, 4});
  CHECK(t.squeeze(0).shape() == Shape{3, 4});  // size 3: unchanged
  CHECK(arange<double>(0, 24).reshape({2, 3, 4}).flatten(1).shape() == Shape{2, 12});
  CHECK(t.reshape({-1}).shape() == Shape{12});
}

TEST_CASE("contiguous copies only when needed, reshape of a non-contiguous view copies") {
  auto t = arange<float>(0, 6).reshape({2, 3});
  CHECK(t.contiguous().same_storage(t));
  auto tt = t.transpose(0, 1);
  auto c = tt.contiguous();
  CHECK(!c.same_storage(t));
  CHECK(c.is_contiguous());
  check_values(c, {0, 3, 1, 4, 2, 5});
  check_values(tt.reshape({6}), {0, 3, 1, 4, 2, 5});
  CHECK_THROWS_WITH_AS(tt.view({6}), doctest::Contains("non-contiguous"), Error);
}

TEST_CASE("shape errors name both shapes") {
  auto a = zeros<float>({2, 3}), b = zeros<float>({4, 3});
  CHECK_THROWS_WITH_AS(a + b, doctest::Contains("[2, 3] and [4, 3]"), Error);
  CHECK_THROWS_WITH_AS(matmul(a, b), doctest::Contains("[2, 3] and [4, 3]"), Error);
  CHECK_THROWS_WITH_AS(a.view({4, 2}), doctest::Contains("[4, 2]"), Error);
  CHECK_THROWS_WITH_AS(a.permute({0, 0}), doctest::Contains("repeated"), Error);
  CHECK_THROWS_WITH_AS(a.size(2), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(Tensor<float>().shape(), doctest::Contains("undefined"), Error);
}

TEST_CASE("random: seeded, counter-based, independent of thread count") {
  Generator g1(42), g2(42);
  auto a = randn<double>({1000}, 0.0, 1.0, g1);
  int saved = num_threads();
  set_num_threads(1);
  auto b = randn<double>({1000}, 0.0, 1.0, g2);
  set_num_threads(saved);
  testing::check_close(a, b, 0, 0);
  // moments of a large sample
  Generator g(7);
  auto n = randn<double>({200000}, 0.0, 1.0, g);
  CHECK(std::abs(mean(n).item()) < 0.01);
  CHECK(std::abs(mean(square(n)).item() - 1.0) < 0.02);
  auto u = rand<double>({200000}, 2.0, 4.0, g);
  CHECK(std::abs(mean(u).item() - 3.0) < 0.01);
  CHECK(min(u).item() >= 2.0);
  CHECK(max(u).item() < 4.0);
  // the state is (seed, offset): restoring it repeats the stream
  Generator h(9);
  rand<float>({10}, 0.f, 1.f, h);
  uint64_t off = h.offset();
  auto x = rand<float>({5}, 0.f, 1.f, h);
  h.set_state(9, off);
  testing::check_close(x, rand<float>({5}, 0.f, 1.f, h), 0, 0);
  // different seeds differ
  CHECK(Generator(1).block(0) != Generator(2).block(0));
}

TEST_CASE("parallel_for: the static split's chunks, each index once, whichever thread takes a chunk") {
  const int saved = num_threads();
  set_num_threads(2);
  // The calls f(b, e) one parallel_for makes, sorted, each index's visits counted.
  auto calls = [](int64_t n, int64_t grain, std::vector<int>& visits) {
    std::vector<std::pair<int64_t, int64_t>> ranges;
    std::mutex m;
    visits.assign(size_t(n), 0);
    parallel_for(n, grain, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> lock(m);
      ranges.emplace_back(b, e);
      for (int64_t i = b; i < e; ++i) ++visits[size_t(i)];
    });
    std::sort(ranges.begin(), ranges.end());
    return ranges;
  };
  std::vector<int> visits;
  using Ranges = std::vector<std::pair<int64_t, int64_t>>;
  for (int rep = 0; rep < 200; ++rep) {  // the threads race for the chunks: many tries
    CHECK(calls(1001, 1, visits) == Ranges{{0, 500}, {500, 1001}});
    CHECK(std::all_of(visits.begin(), visits.end(), [](int v) { return v == 1; }));
  }
  CHECK(calls(10, 10, visits) == Ranges{{0, 10}});  // not worth a thread: one call
  CHECK(calls(0, 1, visits).empty());
  // Nested inside a parallel_for: runs on the calling thread, whole.
  std::vector<Ranges> inner(2);
  parallel_for(2, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      std::vector<int> v;
      inner[size_t(i)] = calls(100, 1, v);
    }
  });
  CHECK(inner[0] == Ranges{{0, 100}});
  CHECK(inner[1] == Ranges{{0, 100}});
  set_num_threads(saved);
}

TEST_CASE("printing shows shape, dtype and values") {
  std::ostringstream os;
  os << tensor<float>({1, 2, 3, 4}, {2, 2});
  CHECK(os.str().find("Tensor[2, 2] float32") != std::string::npos);
  CHECK(os.str().find("4") != std::string::npos);
  std::ostringstream big;
  big << arange<double>(0, 100);
  CHECK(big.str().find("...") != std::string::npos);
}

namespace {
// An upstream allocator with a fixed budget, to see the cache give memory back.
struct BudgetAllocator final : Allocator {
  size_t budget, used = 0;
  explicit BudgetAllocator(size_t b) : budget(b) {}
  void* allocate(size_t bytes) override {
    ONENIP_CHECK(used + bytes <= budget, "budget allocator: out of memory");
    used += bytes;
    return std::malloc(bytes);
  }
  void deallocate(void* p, size_t bytes) noexcept override {
    used -= bytes;
    std::free(p);
  }
  Device device() const override { return Device::CPU; }
};
}  // namespace

TEST_CASE("caching allocator: capped to the peak in use, the cache never holds more than the program once used") {
  BudgetAllocator upstream(1 << 20);
  CachingAllocator cache(upstream, CachingAllocator::kCapToPeak);
  void* a = cache.allocate(4096);
  void* b = cache.allocate(4096);
  CHECK(cache.peak_bytes_in_use() == 8192);
  cache.deallocate(a, 4096), cache.deallocate(b, 4096);
  CHECK(cache.bytes_cached() == 8192);  // all of it: up to the peak
  void* big = cache.allocate(16384);    // a new size class: from upstream, and a new peak
  CHECK(cache.peak_bytes_in_use() == 16384);
  cache.deallocate(big, 16384);         // 8192 + 16384 would pass the peak: straight back upstream
  CHECK(cache.bytes_cached() == 8192);
  CHECK(upstream.used == 8192);
  void* again = cache.allocate(4096);   // a steady loop is served from the cache
  CHECK(cache.upstream_allocations() == 3);
  cache.deallocate(again, 4096);
  cache.release_cached();
  CHECK(upstream.used == 0);
}

TEST_CASE("release_cached_memory gives the cpu's cache back and starts its peak again, and tensors keep their memory") {
  auto& cache = dynamic_cast<CachingAllocator&>(allocator_for(Device::CPU));
  release_cached_memory();
  const size_t in_use = cache.bytes_in_use();
  TensorF kept = full<float>({1024}, 3.0f);
  { TensorF freed = zeros<float>({1 << 18}); }  // 1 MiB, cached when it goes
  CHECK(cache.bytes_cached() >= (size_t(1) << 20));
  CHECK(cache.peak_bytes_in_use() >= in_use + (size_t(1) << 20));
  CHECK(release_cached_memory() >= (size_t(1) << 20));
  CHECK(cache.bytes_cached() == 0);
  CHECK(cache.peak_bytes_in_use() == cache.bytes_in_use());
  CHECK(cache.bytes_in_use() >= in_use + 1024 * sizeof(float));
  CHECK(kept.at({1023}) == 3.0f);
  // an allocator that does not cache has nothing to give back
  CpuAllocator plain;
  set_allocator(Device::CPU, &plain);
  CHECK(release_cached_memory() == 0);
  set_allocator(Device::CPU, &cache);
}

TEST_CASE("a kernel's PooledScratch comes from the tensors' allocator: a second call reuses the first one's block") {
  auto& cache = dynamic_cast<CachingAllocator&>(allocator_for(Device::CPU));
  release_cached_memory();
  const size_t in_use = cache.bytes_in_use();
  const size_t bytes = size_t(1) << 22;  // 4 MiB, a long sequence's per-group dq
  {
    kernels::cpu::PooledScratch<float> first(bytes / sizeof(float));
    CHECK(cache.bytes_in_use() == in_use + bytes);
    first.data()[0] = 1.f;
  }
  CHECK(cache.bytes_cached() == bytes);
  const uint64_t upstream = cache.upstream_allocations();
  {
    kernels::cpu::PooledScratch<float> second(bytes / sizeof(float));
    CHECK(cache.bytes_cached() == 0);
    CHECK(second.size() == bytes / sizeof(float));
  }
  CHECK(cache.upstream_allocations() == upstream);
  CHECK(cache.bytes_in_use() == in_use);
  // it goes back to the allocator it came from, even if another is installed meanwhile
  BudgetAllocator other(size_t(1) << 20);
  {
    kernels::cpu::PooledScratch<float> third(16);
    set_allocator(Device::CPU, &other);
  }
  set_allocator(Device::CPU, &cache);
  CHECK(other.used == 0);
  CHECK(cache.bytes_in_use() == in_use);
}

TEST_CASE("caching allocator: reuses blocks, and gives its cache back when upstream runs out") {
  BudgetAllocator upstream(8192);
  CachingAllocator cache(upstream);
  void* a = cache.allocate(4000);  // size class 4096
  cache.deallocate(a, 4000);
  CHECK(cache.bytes_cached() == 4096);
  void* b = cache.allocate(4096);
  CHECK(b == a);
  CHECK(cache.upstream_allocations() == 1);
  cache.deallocate(b, 4096);
  // 8192 does not fit beside the cached 4096: the cache is released and the request retried.
  void* big = cache.allocate(8192);
  CHECK(cache.bytes_cached() == 0);
  CHECK(cache.bytes_in_use() == 8192);
  CHECK(upstream.used == 8192);
  // Nothing left to release: the error propagates and the accounting is unchanged.
  CHECK_THROWS_AS(cache.allocate(512), Error);
  CHECK(cache.bytes_in_use() == 8192);
  CHECK(cache.upstream_allocations() == 2);
  cache.deallocate(big, 8192);
  cache.release_cached();
  CHECK(upstream.used == 0);
}
