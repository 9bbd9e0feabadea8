// Anomaly synthesis: masks mark exactly what changed, the hybrid's proportions, determinism,
// Perlin noise, textures from a folder, and the training loader built on it.
#include <onenip/data/demo_dataset.hpp>
#include <onenip/data/synthesis.hpp>
#include <onenip/pipeline/loader.hpp>

#include <filesystem>

#include "file_helpers.hpp"
#include "helpers.hpp"

using namespace onenip;

namespace {
io::Image test_image(int S) {
  io::Image im(S, S, 3);
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x)
      for (int c = 0; c < 3; ++c) im.at(y, x, c) = uint8_t((x * 3 + y * 5 + c * 40) % 256);
  return im;
}
int mask_pixels(const io::Image& m) { return int(std::count_if(m.pixels.begin(), m.pixels.end(), [](uint8_t v) { return v; })); }
}  // namespace

TEST_CASE("each synthesis changes pixels only inside its mask, and the mask is binary") {
  io::Image im = test_image(96);
  data::TextureSource tex;
  for (int seed = 0; seed < 12; ++seed) {
    Generator g(static_cast<uint64_t>(seed));
    for (int which = 0; which < 3; ++which) {
      data::Synthetic s = which == 0 ? data::cutpaste(im, g) : which == 1 ? data::cutpaste_scar(im, g)
                                                                          : data::perlin_paste(im, tex, g);
      INFO("kind ", s.kind, " seed ", seed);
      REQUIRE(s.mask.width == 96);
      REQUIRE(s.mask.channels == 1);
      for (int y = 0; y < 96; ++y)
        for (int x = 0; x < 96; ++x) {
          uint8_t m = s.mask.at(y, x);
          CHECK((m == 0 || m == 255));
          if (m == 0)
            for (int c = 0; c < 3; ++c) CHECK(s.image.at(y, x, c) == im.at(y, x, c));
        }
      if (which < 2) CHECK(mask_pixels(s.mask) > 0);  // CutPaste always pastes something
    }
  }
}

TEST_CASE("CutPaste area is 2-15 % of the image, the hybrid picks CutPaste half the time") {
  io::Image im = test_image(128);
  data::TextureSource tex;
  Generator g(1);
  int cut = 0, scar = 0, perlin = 0;
  for (int i = 0; i < 400; ++i) {
    auto s = data::synthesize_anomaly(im, tex, g);
    if (s.kind == "cutpaste") {
      ++cut;
      double frac = mask_pixels(s.mask) / double(128 * 128);
      CHECK(frac <= 0.16);
      CHECK(frac >= 0.015);
    }
    scar += s.kind == "scar";
    perlin += s.kind == "perlin";
  }
  CHECK(std::abs(cut - 100) < 35);
  CHECK(std::abs(scar - 100) < 35);
  CHECK(std::abs(perlin - 200) < 45);
}

TEST_CASE("synthesis is fixed by the seed") {
  io::Image im = test_image(64);
  data::TextureSource tex;
  for (uint64_t seed : {3u, 4u, 5u, 6u}) {
    Generator a(seed), b(seed);
    auto s1 = data::synthesize_anomaly(im, tex, a), s2 = data::synthesize_anomaly(im, tex, b);
    CHECK(s1.kind == s2.kind);
    CHECK(s1.image.pixels == s2.image.pixels);
    CHECK(s1.mask.pixels == s2.mask.pixels);
  }
}

TEST_CASE("Perlin noise: range, lattice, rotation keeps the centre") {
  Generator g(2);
  auto n = data::perlin_noise(64, 64, 4, 8, g);
  float lo = *std::min_element(n.values.begin(), n.values.end()), hi = *std::max_element(n.values.begin(), n.values.end());
  CHECK(lo >= -1.5f);
  CHECK(hi <= 1.5f);
  CHECK(hi - lo > 0.5f);
  CHECK(n.at(0, 0) == doctest::Approx(0.0f));  // zero at lattice points
  CHECK(n.at(16, 8) == doctest::Approx(0.0f).epsilon(1e-5));
  auto r = data::rotate_bilinear(n, 0.0);
  CHECK(r.values == n.values);
}

TEST_CASE("textures: generated kinds and a folder, a missing folder is a clear error") {
  Generator g(4);
  for (int k = 0; k < 4; ++k) {
    auto t = data::generate_texture(48, data::TextureKind(k), g);
    CHECK(t.width == 48);
    CHECK(t.channels == 3);
  }
  namespace fs = std::filesystem;
  testing::TempDir scratch;
  fs::path dir = scratch.path();
  fs::create_directories(dir / "banded");
  io::save_png((dir / "banded" / "a.png").string(), test_image(40));
  data::TextureSource src(dir.string());
  CHECK(src.file_count() == 1);
  CHECK(src.sample(32, g).width == 32);
  CHECK_THROWS_WITH_AS(data::TextureSource((dir / "nope").string()), doctest::Contains("nope"), Error);
}

TEST_CASE("the loader: every image once per epoch, same-class prompts, same batches whatever the workers") {
  namespace fs = std::filesystem;
  testing::TempDir scratch;
  fs::path root = scratch.path() / "data";
  data::DemoDatasetOptions o;
  o.size = 48, o.train_per_class = 7, o.good_test_per_class = 1, o.defects_per_kind = 1;
  data::write_demo_dataset(root.string(), o);
  auto classes = data::discover_datasets({root.string()}, {});
  REQUIRE(classes.size() == 3);
  pipeline::LoaderOptions lo;
  lo.image_size = 64, lo.batch_size = 4, lo.seed = 9;
  auto collect = [&](int workers) {
    lo.workers = workers;
    pipeline::TrainLoader loader(classes, lo);
    loader.start_epoch(1);
    std::vector<pipeline::TrainBatch> out;
    pipeline::TrainBatch b;
    while (loader.next(b)) out.push_back(b);
    return std::make_pair(out, loader.steps_per_epoch());
  };
  auto [one, steps] = collect(1);
  auto [three, steps3] = collect(3);
  CHECK(steps == 6);  // 21 images / 4
  REQUIRE(one.size() == 6);
  REQUIRE(three.size() == 6);
  std::vector<size_t> seen;
  pipeline::TrainLoader probe(classes, lo);
  for (size_t s = 0; s < one.size(); ++s) {
    CHECK(one[s].query == three[s].query);
    CHECK(one[s].prompt == three[s].prompt);
    for (size_t i = 0; i < one[s].query.size(); ++i) {
      CHECK(one[s].synthetic[i].pixels == three[s].synthetic[i].pixels);
      CHECK(probe.class_of(one[s].query[i]) == probe.class_of(one[s].prompt[i]));
      CHECK(one[s].synthetic[i].width == 64);
      seen.push_back(one[s].query[i]);
    }
  }
  std::sort(seen.begin(), seen.end());
  for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i);
  // another epoch, another order
  CHECK(probe.epoch_order(1) != probe.epoch_order(2));
}
