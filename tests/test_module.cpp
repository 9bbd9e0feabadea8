// Module base: names and order, modes, freezing, state dicts (strict checks), printing,
// safetensors files, and weights exported from PyTorch (tests/fixtures/export_nn_io_fixtures.py).
#include "file_helpers.hpp"
#include "helpers.hpp"

using namespace onenip;
using testing::check_close;
using testing::check_values;

namespace {
// y = x w^T + b: enough of a layer to test the base (the real layers live in nn/).
template <typename T>
struct Affine : nn::Module<T> {
  Tensor<T> weight, bias;
  Affine(int64_t in, int64_t out) {
    weight = this->register_parameter("weight", randn<T>({out, in}));
    bias = this->register_parameter("bias", zeros<T>({out}));
  }
  Tensor<T> forward(const Tensor<T>& x) const { return matmul(x, weight.transpose(0, 1)) + bias; }
  std::string extra_repr() const override {
    return "in=" + std::to_string(weight.size(1)) + ", out=" + std::to_string(weight.size(0));
  }
};

struct Head : nn::Module<float> {
  std::shared_ptr<Affine<float>> proj;
  Head() { proj = register_module("proj", std::make_shared<Affine<float>>(4, 2)); }
};

// Own parameter, buffers (one non-persistent), two levels of children.
struct Net : nn::Module<float> {
  TensorF gain, count, table;
  std::shared_ptr<Affine<float>> fc1;
  std::shared_ptr<Head> head;
  Net() {
    gain = register_parameter("gain", ones<float>({4}));
    count = register_buffer("count", zeros<float>({}));
    table = register_buffer("table", ones<float>({2, 2}), false);
    fc1 = register_module("fc1", std::make_shared<Affine<float>>(3, 4));
    head = register_module("head", std::make_shared<Head>());
  }
  TensorF forward(const TensorF& x) const { return head->proj->forward(relu(fc1->forward(x)) * gain); }
};

std::vector<std::string> names(const nn::NamedTensors<float>& nt) {
  std::vector<std::string> out;
  for (auto& [n, t] : nt) out.push_back(n);
  return out;
}
}  // namespace

TEST_CASE("dotted names in PyTorch order: own entries first, then children depth first") {
  Net net;
  using V = std::vector<std::string>;
  CHECK(names(net.named_parameters()) == V{"gain", "fc1.weight", "fc1.bias", "head.proj.weight", "head.proj.bias"});
  CHECK(names(net.named_parameters(false)) == V{"gain"});
  CHECK(names(net.named_buffers()) == V{"count", "table"});
  CHECK(names(net.state_dict()) == V{"gain", "count", "fc1.weight", "fc1.bias", "head.proj.weight", "head.proj.bias"});
  std::vector<std::string> mods;
  for (auto& [n, m] : net.named_modules()) mods.push_back(n + ":" + m->type_name());
  CHECK(mods == V{":Net", "fc1:Affine", "head:Head", "head.proj:Affine"});
  CHECK(net.parameters().size() == 5);
  CHECK(net.parameters()[1].same_storage(net.fc1->weight));
  CHECK(net.num_parameters() == 4 + 12 + 4 + 8 + 2);
  // the state dict aliases the module's storage but carries no autograd
  auto sd = net.state_dict();
  CHECK(sd[2].second.same_storage(net.fc1->weight));
  CHECK(!sd[2].second.requires_grad());
}

TEST_CASE("registration refuses bad names and tensors") {
  Net net;
  CHECK_THROWS_WITH_AS(net.register_parameter("fc1", zeros<float>({1})), doctest::Contains("Net.register_parameter: the name 'fc1' is already taken"), Error);
  CHECK_THROWS_WITH_AS(net.register_buffer("a.b", zeros<float>({1})), doctest::Contains("invalid name 'a.b'"), Error);
  CHECK_THROWS_WITH_AS(net.register_module("", std::make_shared<Head>()), doctest::Contains("invalid name ''"), Error);
  auto leaf = zeros<float>({2}).set_requires_grad();
  CHECK_THROWS_WITH_AS(net.register_parameter("x", leaf * 2.0f), doctest::Contains("has a grad_fn"), Error);
  CHECK_THROWS_WITH_AS(net.register_parameter("y", zeros<float>({2, 3}).transpose(0, 1)),
                       doctest::Contains("shape [3, 2] is not contiguous"), Error);
  CHECK_THROWS_WITH_AS(net.register_module("z", std::shared_ptr<Head>()), doctest::Contains("null module"), Error);
}

TEST_CASE("train/eval, freezing, gradients") {
  Net net;
  CHECK(net.head->proj->is_training());
  net.eval();
  CHECK(!net.is_training());
  CHECK(!net.head->proj->is_training());
  net.train();
  CHECK(net.head->is_training());

  auto x = randn<float>({5, 3});
  sum(net.forward(x)).backward();
  for (auto& p : net.parameters()) CHECK(p.grad().defined());
  net.zero_grad();
  for (auto& p : net.parameters()) CHECK(!p.grad().defined());

  net.fc1->set_requires_grad(false);  // freeze a child
  CHECK(net.num_parameters(true) == 4 + 8 + 2);
  CHECK(net.trainable_parameters().size() == 3);
  sum(net.forward(x)).backward();
  CHECK(!net.fc1->weight.grad().defined());
  CHECK(net.head->proj->weight.grad().defined());
  // d sum(x w^T + b) / db = the batch size, per output
  check_values(net.head->proj->bias.grad(), {5, 5}, 1e-6);
}

TEST_CASE("tied parameters appear once in named_parameters, under every name in state_dict") {
  Head a;
  auto b = std::make_shared<Affine<float>>(4, 2);
  a.register_parameter("tied", a.proj->weight);
  CHECK(a.named_parameters().size() == 2);
  CHECK(a.num_parameters() == 10);
  CHECK(names(a.state_dict()) == std::vector<std::string>{"tied", "proj.weight", "proj.bias"});
}

TEST_CASE("load_state_dict copies in place, strict errors list every problem, nothing is copied on error") {
  Net src, dst;
  TensorF w_before = dst.fc1->weight;
  auto r = dst.load_state_dict(src.state_dict());
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  check_close(dst.fc1->weight, src.fc1->weight, 0, 0);
  CHECK(dst.fc1->weight.impl() == w_before.impl());  // same tensor, new values
  CHECK(dst.fc1->weight.requires_grad());
  // from a std::map too
  std::map<std::string, TensorF> m;
  for (auto& [n, t] : src.state_dict()) m[n] = t.clone();
  dst.load_state_dict(m);

  auto sd = src.state_dict();
  sd.erase(sd.begin() + 2);                               // fc1.weight missing
  sd.erase(sd.begin());                                   // gain missing
  sd.emplace_back("head.extra", zeros<float>({1}));       // unexpected
  sd.emplace_back("classifier.bias", zeros<float>({1}));  // unexpected
  auto at = [&](const std::string& n) -> TensorF& {
    for (auto& e : sd)
      if (e.first == n) return e.second;
    throw std::runtime_error(n);
  };
  at("fc1.bias") = zeros<float>({5});                     // [4] expected
  TensorF bias_before = dst.head->proj->bias.clone();
  try {
    dst.load_state_dict(sd);
    FAIL("no error");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("loading Net from the state dict failed") != std::string::npos);
    CHECK(msg.find("missing 2 tensors (in the module, not in the source): gain, fc1.weight") != std::string::npos);
    CHECK(msg.find("unexpected 2 tensors (in the source, not in the module): head.extra, classifier.bias") != std::string::npos);
    CHECK(msg.find("shape mismatch: fc1.bias is [4] in the module, [5] in the source") != std::string::npos);
  }
  check_close(dst.head->proj->bias, bias_before, 0, 0);

  // non-strict: names may differ (reported), shapes may not
  at("fc1.bias") = src.fc1->bias;
  auto r2 = dst.load_state_dict(sd, false);
  CHECK(r2.missing == std::vector<std::string>{"gain", "fc1.weight"});
  CHECK(r2.unexpected == std::vector<std::string>{"head.extra", "classifier.bias"});
  check_close(dst.fc1->bias, src.fc1->bias, 0, 0);
  at("fc1.bias") = zeros<float>({5});
  CHECK_THROWS_WITH_AS(dst.load_state_dict(sd, false), doctest::Contains("fc1.bias is [4] in the module, [5]"), Error);
  sd.push_back(sd[0]);
  CHECK_THROWS_WITH_AS(dst.load_state_dict(sd), doctest::Contains("has 'count' twice"), Error);
}

TEST_CASE("to_string and summary") {
  Net net;
  CHECK(net.to_string() ==
        "Net(\n"
        "  (fc1): Affine(in=3, out=4)\n"
        "  (head): Head(\n"
        "    (proj): Affine(in=4, out=2)\n"
        "  )\n"
        ")");
  CHECK(net.summary() ==
        "module    type          params     trainable\n"
        "(root)    Net               30            30\n"
        "  fc1     Affine            16            16\n"
        "  head    Head              10            10\n"
        "    proj  Affine            10            10\n"
        "total: 30 parameters (30 trainable), 5 buffer elements\n");
  net.fc1->set_requires_grad(false);
  INFO(net.summary(1));
  CHECK(net.summary(1).find("  fc1   Affine            16             0\n  head  Head              10            10\ntotal: 30 parameters (14 trainable)") != std::string::npos);
  CHECK(nn::detail::thousands(3540265) == "3,540,265");
  CHECK(nn::detail::thousands(-1000) == "-1,000");
  CHECK(nn::detail::thousands(999) == "999");
}

TEST_CASE("save and load a module as safetensors, metadata kept") {
  testing::TempDir dir;
  Net a, b;
  a.count.fill_(7);
  a.save(dir.file("net.safetensors"), {{"note", "hello"}});
  io::SafeTensorsFile f(dir.file("net.safetensors"));
  CHECK(f.metadata().at("note") == "hello");
  CHECK(f.tensors().size() == 6);  // the non-persistent buffer is not saved
  b.load(dir.file("net.safetensors"));
  auto sa = a.state_dict(), sb = b.state_dict();
  for (size_t i = 0; i < sa.size(); ++i) check_close(sa[i].second, sb[i].second, 0, 0);
  // strict loading from a file names the file and lists the names
  Head h;
  const std::string want = "loading Head from '" + dir.file("net.safetensors") +
                           "' failed:\n  missing 2 tensors (in the module, not in the source): proj.weight, proj.bias";
  CHECK_THROWS_WITH_AS(h.load(dir.file("net.safetensors")), doctest::Contains(want.c_str()), Error);
}

namespace {
// The module a PyTorch export expects: Linear(3,4) -> BatchNorm1d(4) -> ReLU -> Linear(4,2).
struct BatchNormEval : nn::Module<float> {
  TensorF weight, bias, running_mean, running_var, num_batches_tracked;
  BatchNormEval() {
    weight = register_parameter("weight", ones<float>({4}));
    bias = register_parameter("bias", zeros<float>({4}));
    running_mean = register_buffer("running_mean", zeros<float>({4}));
    running_var = register_buffer("running_var", ones<float>({4}));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros<float>({}));
  }
  TensorF forward(const TensorF& x) const {
    return (x - running_mean) / sqrt(running_var + 1e-5f) * weight + bias;
  }
};
struct TorchMLP : nn::Module<float> {
  std::shared_ptr<Affine<float>> fc1 = register_module("fc1", std::make_shared<Affine<float>>(3, 4));
  std::shared_ptr<BatchNormEval> bn = register_module("bn", std::make_shared<BatchNormEval>());
  std::shared_ptr<Affine<float>> fc2 = register_module("fc2", std::make_shared<Affine<float>>(4, 2));
  TensorF forward(const TensorF& x) const { return fc2->forward(relu(bn->forward(fc1->forward(x)))); }
};
}  // namespace

TEST_CASE("weights exported from PyTorch (safetensors.torch.save_file) load without renaming") {
  TorchMLP net;
  net.load(testing::fixture_path("torch_mlp.safetensors"));
  CHECK(net.bn->num_batches_tracked.item() == 2.0f);  // I64 in the file
  const auto& io_file = testing::fixture("torch_mlp_io.safetensors");
  check_close(net.forward(io_file.get<float>("mlp.x")), io_file.get<float>("mlp.y"), 1e-6, 1e-5);
  CHECK(testing::fixture("torch_mlp.safetensors").metadata().at("source") == "torch");
}
