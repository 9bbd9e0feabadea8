// Random numbers on CUDA against the CPU: seeded rand, randn and dropout draw the same Philox
// counters with the same rules. Under the SIMT emulator the kernels run with the host libm, so
// every value must match bit for bit. On a GPU, CUDA's double log / sin / cos are within 2 ulp,
// so normal values may differ by about an ulp of T after rounding (uniform values by the
// contraction of lo + (hi - lo) u, if the host compiler did not fuse it); dropout masks are
// integer decisions and must be identical.
#include <doctest/doctest.h>
#include <onenip/onenip.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#if defined(ONENIP_CUDA_EMULATED)
#include "simt/emulator.hpp"
#endif

using namespace onenip;

namespace {

#if defined(ONENIP_CUDA_EMULATED)
constexpr bool kExact = true;
#else
constexpr bool kExact = false;
#endif

// Every element of `dev` (a CUDA tensor) equals `cpu`: bitwise, or within `ulps` of T's epsilon
// times `scale` on a GPU.
template <typename T>
void check_same(const Tensor<T>& dev, const Tensor<T>& cpu, double scale, const std::string& what) {
  INFO(what);
  REQUIRE(dev.device() == Device::CUDA);
  const Tensor<T> got = dev.cpu();
  REQUIRE(got.shape() == cpu.shape());
  int64_t bad = 0, first_bad = -1;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const T a = got.data()[i], b = cpu.data()[i];
    const bool same = kExact ? std::memcmp(&a, &b, sizeof(T)) == 0
                             : std::abs(double(a) - double(b)) <= 4 * std::numeric_limits<T>::epsilon() * scale;
    if (!same && bad++ == 0) first_bad = i;
  }
  INFO("first mismatch at ", first_bad, " of ", got.numel());
  CHECK(bad == 0);
}

// Runs `draw(gen, device)` on the CPU and on CUDA from generators in the same state; both must
// leave their generator at the same offset.
template <typename T, typename Draw>
void compare_draw(uint64_t seed, uint64_t offset, double scale, const std::string& what, Draw draw) {
  Generator gc(seed), gd(seed);
  gc.set_state(seed, offset), gd.set_state(seed, offset);
  Tensor<T> want = draw(gc, Device::CPU);
  check_same(draw(gd, Device::CUDA), want, scale, what);
  CHECK(gc.offset() == gd.offset());
#if defined(ONENIP_CUDA_EMULATED)
  // The threads are independent: a reversed schedule changes nothing.
  const simt::Schedule saved = simt::schedule();
  simt::set_schedule({simt::Order::Reverse, true, 0});
  gd.set_state(seed, offset);
  check_same(draw(gd, Device::CUDA), want, scale, what + " [reversed schedule]");
  simt::set_schedule(saved);
#endif
}

template <typename T>
void fills() {
  // Sizes off the 4-per-block (uniform) and 2-per-block (normal) grids, and one over many blocks.
  for (int64_t n : {1, 2, 3, 5, 7, 8, 1001, 70001}) {
    for (uint64_t offset : {uint64_t(0), uint64_t(12345), (uint64_t(1) << 32) + 7}) {
      const std::string tag = std::string(sizeof(T) == 4 ? "float" : "double") + " n " + std::to_string(n) +
                              " offset " + std::to_string(offset);
      compare_draw<T>(0x5eed, offset, 3, "rand " + tag,
                      [&](Generator& g, Device d) { return rand<T>({n}, T(-1), T(3), g, d); });
      // |mean| + std |z| < 0.5 + 2 * 7: Box-Muller with 32-bit words stays below 7 sigma.
      compare_draw<T>(0xfeedbeefcafeull, offset, 15, "randn " + tag,
                      [&](Generator& g, Device d) { return randn<T>({n}, T(0.5), T(2), g, d); });
    }
  }
}

template <typename T>
void dropouts() {
  for (int64_t n : {1, 7, 8, 9, 1001, 65537}) {
    for (double p : {0.1, 0.5, 0.99, 1.0}) {
      const std::string tag = std::string(sizeof(T) == 4 ? "float" : "double") + " n " + std::to_string(n) + " p " +
                              std::to_string(p);
      Tensor<T> x = randn<T>({n}, T(0), T(1));
      compare_draw<T>(42, 99, 0, "dropout " + tag,
                      [&](Generator& g, Device d) { return dropout(x.to(d), p, true, g); });
    }
  }
}

}  // namespace

TEST_CASE("cuda random: seeded rand and randn equal the CPU's (float)") { fills<float>(); }
TEST_CASE("cuda random: seeded rand and randn equal the CPU's (double)") { fills<double>(); }
TEST_CASE("cuda random: dropout keeps and scales the same elements as the CPU (float)") { dropouts<float>(); }
TEST_CASE("cuda random: dropout keeps and scales the same elements as the CPU (double)") { dropouts<double>(); }
