// The OneNIP model: parity with the PyTorch reference on the same weights and features,
// shapes, parameter counts, gradients reaching the transformer, overfitting, determinism.
#include <onenip/models/onenip.hpp>

#include "helpers.hpp"

using namespace onenip;
using models::OneNIP;
using models::OneNIPConfig;

namespace {
// The fixture's configuration (tests/fixtures/export_onenip_fixtures.py).
OneNIPConfig small_config() {
  OneNIPConfig c;
  c.feature_channels = 24;
  c.image_size = 64;
  c.hidden = 32;
  c.heads = 4;
  c.ff = 64;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.dropout = 0;
  c.jitter_scale = 0;
  return c;
}
std::shared_ptr<OneNIP<float>> reference_model() {
  auto m = std::make_shared<OneNIP<float>>(small_config());
  nn::NamedTensors<float> sd;
  const auto& f = testing::fixture("onenip_fixtures.safetensors");
  for (auto& t : f.tensors())
    if (t.name.rfind("model.", 0) == 0) sd.emplace_back(t.name.substr(6), f.get<float>(t.name));
  m->load_state_dict(sd, true);
  return m;
}
TensorF fx(const std::string& n) { return testing::fixture("onenip_fixtures.safetensors").get<float>(n); }
}  // namespace

TEST_CASE("OneNIP matches the PyTorch reference: training forward, loss, gradients, BN statistics") {
  auto m = reference_model();
  m->train();
  auto out = m->forward_train(fx("in.fq"), fx("in.fs"), fx("in.fp"));
  testing::check_close(out.reconstruction, fx("train.rec"), 1e-4, 1e-4);
  testing::check_close(out.target, fx("train.target"), 0, 0);
  testing::check_close(out.logits, fx("train.logits"), 1e-4, 1e-4);
  auto loss = m->loss(out, fx("in.masks"));
  auto expect = fx("train.loss");
  CHECK(loss.total.item() == doctest::Approx(expect.at({0})).epsilon(1e-5));
  CHECK(loss.mse.item() == doctest::Approx(expect.at({1})).epsilon(1e-5));
  CHECK(loss.dice.item() == doctest::Approx(expect.at({2})).epsilon(1e-5));
  loss.total.backward();
  auto params = m->named_parameters();
  for (auto& t : testing::fixture("onenip_fixtures.safetensors").tensors()) {
    if (t.name.rfind("grad.", 0) != 0) continue;
    std::string name = t.name.substr(5);
    INFO("gradient of ", name);
    auto it = std::find_if(params.begin(), params.end(), [&](auto& p) { return p.first == name; });
    REQUIRE(it != params.end());
    testing::check_close(it->second.grad(), fx(t.name), testing::Tol{1e-7, 1e-3, 1e-3});
  }
  for (auto& [name, b] : m->named_buffers()) {
    if (name.find("running") == std::string::npos) continue;
    INFO("buffer ", name);
    testing::check_close(b, fx("after." + name), 1e-5, 1e-5);
  }
}

TEST_CASE("OneNIP matches the PyTorch reference: evaluation maps S_rec and S_ref") {
  auto m = reference_model();
  NoGradGuard ng;
  // the reference evaluated after its training forward had updated the BN running statistics
  for (auto& [name, b] : m->named_buffers())
    if (name.find("running") != std::string::npos) b.copy_(fx("after." + name));
  m->eval();
  auto p_e = m->encode_prompt(fx("in.fp").narrow(0, 0, 1));
  auto maps = m->forward_eval(fx("in.fq"), p_e);
  testing::check_close(maps.rec, fx("eval.s_rec"), 1e-4, 1e-4);
  testing::check_close(maps.ref, fx("eval.s_ref"), 1e-5, 1e-4);
}

TEST_CASE("parameter counts match the reference (168 and 272 feature channels at 224)") {
  OneNIPConfig c;
  c.feature_channels = 168;
  CHECK(OneNIP<float>(c).num_parameters(true) == 8199465);
  c.feature_channels = 272;
  CHECK(OneNIP<float>(c).num_parameters(true) == 8372625);
  c.image_size = 256;
  CHECK(OneNIP<float>(c).num_parameters(true) == 8373137);
  c.image_size = 320;
  CHECK(OneNIP<float>(c).num_parameters(true) == 8374161);
}

TEST_CASE("shapes through every stage, and ablation switches") {
  OneNIPConfig c = small_config();
  Generator g(3);
  auto f = [&](int64_t n) { return randn<float>({n, 24, 4, 4}, 0.f, 1.f, g); };
  for (auto mode : {models::DecoderMode::Bidirectional, models::DecoderMode::Static, models::DecoderMode::Query}) {
    c.decoder = mode;
    OneNIP<float> m(c);
    auto tokens = m.encode(f(3), m.pos());
    CHECK(tokens.shape() == Shape{3, 16, 32});
    auto out = m.forward_train(f(2), f(2), f(2));
    CHECK(out.reconstruction.shape() == Shape{4, 24, 4, 4});
    CHECK(out.logits.shape() == Shape{4, 1, 64, 64});
    m.eval();
    NoGradGuard ng;
    auto maps = m.forward_eval(f(3), m.encode_prompt(f(1)));
    CHECK(maps.rec.shape() == Shape{3, 64, 64});
    CHECK(maps.ref.shape() == Shape{3, 64, 64});
  }
  c.decoder = models::DecoderMode::Bidirectional;
  c.refiner = false;
  c.restoration = false;
  OneNIP<float> plain(c);
  auto out = plain.forward_train(f(2), TensorF(), f(2));
  CHECK(out.reconstruction.shape() == Shape{2, 24, 4, 4});
  CHECK(!out.logits.defined());
  CHECK_THROWS_WITH_AS(plain.encode(randn<float>({1, 23, 4, 4}), plain.pos()), doctest::Contains("[N, 24, 4, 4]"), Error);
}

TEST_CASE("restoration and refiner gradients reach the transformer") {
  auto m = reference_model();
  m->train();
  auto out = m->forward_train(fx("in.fq"), fx("in.fs"), fx("in.fp"));
  // the Dice term alone: its gradient must flow back through the refiner into the encoder
  nn::dice_loss(sigmoid(out.logits), fx("in.masks"), nn::DiceForm::reference).backward();
  auto enc_grad = m->enc->operator[](0)->attn->in_proj_weight.grad();
  REQUIRE(enc_grad.defined());
  CHECK(max(abs(enc_grad)).item() > 0);
  // the restoration half of the MSE alone reaches the encoder too
  m->zero_grad();
  auto out2 = m->forward_train(fx("in.fq"), fx("in.fs"), fx("in.fp"));
  nn::mse_loss(out2.reconstruction.narrow(0, 2, 2), out2.target.narrow(0, 2, 2)).backward();
  CHECK(max(abs(m->input_proj->weight.grad())).item() > 0);
}

TEST_CASE("the model overfits one batch, and a seeded run repeats exactly") {
  // returns (total, mse) per step; `noisy` turns dropout and feature jitter on
  auto run = [](int steps, bool noisy) {
    OneNIPConfig c = small_config();
    if (noisy) c.dropout = 0.1, c.jitter_scale = 20;
    OneNIP<float> m(c);
    Generator g(5);
    auto fq = randn<float>({2, 24, 4, 4}, 0.f, 1.f, g), fs = randn<float>({2, 24, 4, 4}, 0.f, 1.f, g);
    auto fp = randn<float>({2, 24, 4, 4}, 0.f, 1.f, g);
    auto masks = fx("in.masks");
    optim::AdamW<float> opt(m.parameters(), {.lr = 3e-3, .weight_decay = 0});
    std::vector<std::pair<double, double>> losses;
    for (int i = 0; i < steps; ++i) {
      auto l = m.loss(m.forward_train(fq, fs, fp), masks);
      losses.emplace_back(l.total.item(), l.mse.item());
      opt.zero_grad();
      l.total.backward();
      opt.step();
    }
    return losses;
  };
  auto a = run(150, false);
  INFO("first (total, mse) ", a.front().first, ", ", a.front().second, "; last ", a.back().first, ", ",
       a.back().second);
  CHECK(a.back().second < a.front().second / 10);  // the reconstruction is learnt
  CHECK(a.back().first < a.front().first / 2);     // the Dice term has a floor (its `reference` form)
  auto b = run(4, true), b2 = run(4, true);
  for (size_t i = 0; i < b.size(); ++i) CHECK(b[i] == b2[i]);
}
