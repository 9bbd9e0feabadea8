// Resizing against PIL fixtures, image/mask -> tensor conversion, batching.
#include <onenip/data/transforms.hpp>

#include "helpers.hpp"

using namespace onenip;
using data::Image;
using data::Normalization;

namespace {

// Largest |ours - PIL| and how many pixels differ, against a float [H, W, C] fixture.
std::pair<int, int> compare(const Image& im, const TensorF& ref) {
  REQUIRE(ref.shape() == Shape{im.height, im.width, im.channels});
  int worst = 0, differ = 0;
  for (size_t i = 0; i < im.pixels.size(); ++i) {
    int d = std::abs(int(im.pixels[i]) - int(ref.data()[i]));
    worst = std::max(worst, d);
    differ += d != 0;
  }
  return {worst, differ};
}

struct Size {
  const char* name;
  int w, h;
};
const Size kSizes[] = {{"14x14", 14, 14}, {"20x20", 20, 20}, {"12x30", 12, 30}};

}  // namespace

TEST_CASE("bilinear and nearest resizing match PIL (shrink, grow, RGB, grey, a real image)") {
  const auto& fx = testing::fixture("image_fixtures.safetensors");
  struct Src {
    const char* name;
    const char* file;
    Size vertical_first;  // a size where Pillow 13 runs the vertical pass first
  };
  for (Src s :
       {Src{"synth_rgb", "img_synth_rgb.png", {"", 36, 6}}, Src{"synth_grey", "img_synth_grey.png", {"", 36, 6}},
        Src{"bottle", "img_bottle_crop.png", {"", 80, 10}}}) {
    Image im = io::load_image(testing::fixture_path(s.file), 0);
    for (Size z : kSizes) {
      std::string key = std::string(s.name) + "_bilinear_" + z.name;
      int worst, differ;  // not a structured binding: INFO captures them, which clang 14 cannot
      std::tie(worst, differ) = compare(data::resize_image(im, z.w, z.h), fx.get<float>(key));
      INFO(key, ": max |diff| ", worst, " in ", differ, " values");
      CHECK(worst <= 1);   // the contract
      CHECK(differ == 0);  // and in fact: PIL's fixed-point arithmetic is replicated exactly
      // both pass orders agree here (the height does not shrink more than twice the width)
      CHECK(
          compare(data::resize_image(im, z.w, z.h, data::PassOrder::horizontal_first), fx.get<float>(key)).second ==
          0);
      key = std::string(s.name) + "_nearest_" + z.name;
      if (fx.contains(key)) {
        INFO(key);
        CHECK(compare(data::resize_mask(im, z.w, z.h), fx.get<float>(key)).first == 0);
      }
    }
    // Pillow 13's pass order is matched exactly; Pillow <= 11's order is off by one level here.
    std::string key = std::string(s.name) + "_bilinear_vfirst";
    Size z = s.vertical_first;
    INFO(key);
    CHECK(compare(data::resize_image(im, z.w, z.h), fx.get<float>(key)).second == 0);
    auto [worst, differ] =
        compare(data::resize_image(im, z.w, z.h, data::PassOrder::horizontal_first), fx.get<float>(key));
    CHECK(worst == 1);
    CHECK(differ > 0);
  }
  Image mask = io::load_image(testing::fixture_path("img_bottle_mask_crop.png"), 1);
  for (Size z : kSizes) {
    INFO("mask ", z.name);
    CHECK(compare(data::resize_mask(mask, z.w, z.h), fx.get<float>(std::string("mask_nearest_") + z.name)).first ==
          0);
  }
}

TEST_CASE("resize: same size is a copy, a constant image stays constant, bad sizes are refused") {
  Image im(5, 4, 3, 77);
  im.at(1, 2, 1) = 9;
  CHECK(data::resize_image(im, 5, 4).pixels == im.pixels);
  CHECK(data::resize_mask(im, 5, 4).pixels == im.pixels);
  Image flat(33, 17, 1, 200);
  for (auto [w, h] : {std::pair{7, 5}, std::pair{64, 40}, std::pair{1, 1}}) {
    CHECK(data::resize_image(flat, w, h).pixels == std::vector<uint8_t>(size_t(w * h), 200));
    CHECK(data::resize_mask(flat, w, h).pixels == std::vector<uint8_t>(size_t(w * h), 200));
  }
  CHECK_THROWS_WITH_AS(data::resize_image(im, 0, 4), doctest::Contains("target size must be positive"), Error);
  CHECK_THROWS_WITH_AS(data::resize_mask(Image(), 4, 4), doctest::Contains("image is empty"), Error);
}

TEST_CASE_TEMPLATE("image_to_tensor: [C, H, W] with each backbone's normalisation", T, float, double) {
  Image im(2, 1, 3);
  im.pixels = {0, 51, 255, 255, 102, 0};  // pixel (0,0) = (0, 51, 255), pixel (0,1) = (255, 102, 0)
  auto t = data::image_to_tensor<T>(im, Normalization::imagenet());
  CHECK(t.shape() == Shape{3, 1, 2});
  double tol = std::is_same_v<T, float> ? 1e-6 : 1e-12;
  testing::check_values(t,
                        {(0 - 0.485) / 0.229, (1 - 0.485) / 0.229,      // R plane
                         (0.2 - 0.456) / 0.224, (0.4 - 0.456) / 0.224,  // G plane
                         (1 - 0.406) / 0.225, (0 - 0.406) / 0.225},     // B plane
                        tol, tol);
  testing::check_values(data::image_to_tensor<T>(im, Normalization::mobilenet_v2()),
                        {-1, 1, 51 / 127.5 - 1, 102 / 127.5 - 1, 1, -1}, tol, tol);
  testing::check_values(data::image_to_tensor<T>(im, Normalization::unit()), {0, 1, 0.2, 0.4, 1, 0}, tol, tol);

  Image grey(2, 1, 1);
  grey.pixels = {0, 255};
  CHECK_THROWS_WITH_AS(data::image_to_tensor<T>(grey, Normalization::imagenet()),
                       doctest::Contains("mean has 3 values for an image with 1 channel"), Error);
  testing::check_values(data::image_to_tensor<T>(grey, Normalization::mobilenet_v2()), {-1, 1});
}

TEST_CASE_TEMPLATE("masks: nearest resize then {0, 1}, shape [1, H, W]", T, float, double) {
  Image m(4, 2, 1);
  m.pixels = {0, 255, 1, 0, 0, 0, 128, 0};
  auto t = data::mask_to_tensor<T>(m);
  CHECK(t.shape() == Shape{1, 2, 4});
  testing::check_values(t, {0, 1, 1, 0, 0, 0, 1, 0});
  auto p = data::prepare_mask<T>(m, 8);  // nearest 4x2 -> 8x8 duplicates columns, quadruples rows
  CHECK(p.shape() == Shape{1, 8, 8});
  CHECK(p.at({0, 0, 2}) == T(1));
  CHECK(p.at({0, 3, 5}) == T(1));
  CHECK(p.at({0, 7, 5}) == T(1));
  CHECK(p.at({0, 7, 2}) == T(0));
  CHECK_THROWS_WITH_AS(data::mask_to_tensor<T>(Image(2, 2, 3)), doctest::Contains("must have 1 channel"), Error);
}

TEST_CASE_TEMPLATE("batches: [N, C, H, W] from tensors or straight from images", T, float, double) {
  Image a(3, 2, 3, 10), b(3, 2, 3, 200);
  b.at(1, 2, 0) = 0;
  auto norm = Normalization::imagenet();
  auto ta = data::image_to_tensor<T>(a, norm), tb = data::image_to_tensor<T>(b, norm);
  auto batch = data::make_batch<T>({ta, tb});
  CHECK(batch.shape() == Shape{2, 3, 2, 3});
  testing::check_close(batch.select(0, 1), tb, 0.0, 0.0);
  testing::check_close(data::images_to_batch<T>({a, b}, norm), batch, 0.0, 0.0);
  auto prepared = data::prepare_image<T>(Image(40, 30, 3, 128), 14, norm);
  CHECK(prepared.shape() == Shape{3, 14, 14});
  CHECK(prepared.at({1, 7, 7}) == T((128 / 255.0 - 0.456) / 0.224));

  CHECK_THROWS_WITH_AS(data::make_batch<T>({ta, data::image_to_tensor<T>(Image(2, 2, 3), norm)}),
                       doctest::Contains("item 1 has shape [3, 2, 2], item 0 has [3, 2, 3]"), Error);
  CHECK_THROWS_WITH_AS(data::images_to_batch<T>({a, Image(2, 2, 3)}, norm),
                       doctest::Contains("image 1 is 2 x 2 x 3, image 0 is 3 x 2 x 3"), Error);
  CHECK_THROWS_WITH_AS(data::make_batch<T>({}), doctest::Contains("no tensors"), Error);
}
