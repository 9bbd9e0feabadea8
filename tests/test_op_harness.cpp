// The op harness itself: it passes a correct op and fails wrong ones (a wrong forward, a float
// path that differs from the double one, a wrong gradient, gradients that differ from the
// reference's). A harness that cannot fail would check nothing.
#include "op_harness.hpp"

using namespace onenip;
using testing::In;
using testing::Op;

namespace {

// The names of the checks that failed.
std::vector<std::string> failed(const Op& op) {
  std::vector<std::string> out;
  for (const auto& c : op.run())
    if (!c.ok) out.push_back(c.what);
  return out;
}
bool any_has(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

const auto exp_ = []<class T>(const In<T>& x) { return exp(x[0]); };
// x + x^2 with the square detached: the forward is right, the gradient is 1 instead of 1 + 2x.
const auto wrong_grad = []<class T>(const In<T>& x) { return x[0] + square(x[0]).detach(); };

}  // namespace

TEST_CASE("op harness passes a correct op") {
  auto f = failed(Op("exp", exp_).in({3, 4}, testing::normal(), testing::transposed(0, 1))
                      .ref([](const In<double>& x) { return map_unary(x[0], [](double v) { return std::exp(v); }); }));
  INFO((f.empty() ? std::string() : f[0]));
  CHECK(f.empty());
}

TEST_CASE("op harness fails a wrong forward, a wrong float path and a wrong gradient") {
  auto f = failed(Op("exp, reference off by 1e-3", exp_).in({3, 4}).ref([](const In<double>& x) {
    return exp(x[0]) * 1.001;
  }));
  CHECK(any_has(f, "double forward vs reference"));
  CHECK(any_has(f, "float forward"));

  f = failed(Op("float path off by 1e-3", []<class T>(const In<T>& x) {
               return std::is_same_v<T, float> ? x[0] * T(1.001) : x[0] * T(1);
             }).in({3, 4}));
  CHECK(any_has(f, "float forward"));
  CHECK(any_has(f, "float vs double gradient"));
  CHECK_FALSE(any_has(f, "gradcheck"));

  f = failed(Op("wrong gradient", wrong_grad).in({3, 4}));
  CHECK(f == std::vector<std::string>{"cpu double gradcheck"});
  // random-direction mode catches it too
  f = failed(Op("wrong gradient, directions", wrong_grad).in({30, 40}).directions(3));
  CHECK(f == std::vector<std::string>{"cpu double gradcheck"});

  f = failed(Op("gradient differs from the reference's", wrong_grad).in({3, 4}).ref([](const In<double>& x) {
    return x[0] + square(x[0]);
  }, true));
  CHECK(any_has(f, "vs reference gradient"));
}
