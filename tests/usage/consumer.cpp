// A user's program: include the umbrella header, train one step, print the loss.
#include <onenip/onenip.hpp>

#include <iostream>

int main() {
  using namespace onenip;
  manual_seed(0);
  auto w = randn<float>({3, 1}).set_requires_grad(true);
  auto x = randn<float>({8, 3});
  auto loss = mean(square(matmul(x, w)));
  loss.backward();
  std::cout << "loss " << loss.item() << " grad " << w.grad().shape().size() << "\n";
  return w.grad().defined() ? 0 : 1;
}
