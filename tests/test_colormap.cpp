// Heat-map colouring, blending and panel layout for reports.
#include <onenip/data/colormap.hpp>

#include "helpers.hpp"

using namespace onenip;
using data::Image;
using Rgb = std::array<uint8_t, 3>;

TEST_CASE("jet: matplotlib's segments at known points, clamped outside [0, 1]") {
  CHECK(data::jet(0.0) == Rgb{0, 0, 128});      // b = 0.5
  CHECK(data::jet(0.25) == Rgb{0, 128, 255});   // g half way up
  CHECK(data::jet(0.5) == Rgb{123, 255, 123});  // r = b = 0.15 / 0.31 = 0.484
  CHECK(data::jet(0.75) == Rgb{255, 151, 0});   // g = 1 - 0.11 / 0.27 = 0.593
  CHECK(data::jet(1.0) == Rgb{128, 0, 0});      // r = 0.5
  CHECK(data::jet(-3.0) == data::jet(0.0));
  CHECK(data::jet(7.0) == data::jet(1.0));
}

TEST_CASE_TEMPLATE("colorize a score map between lo and hi", T, float, double) {
  auto map = tensor<T>({0, 0.5, 1, 2, -1, 0.25}, {2, 3});
  Image im = data::colorize(map, 0.0, 1.0);
  REQUIRE(im.width == 3);
  REQUIRE(im.height == 2);
  REQUIRE(im.channels == 3);
  std::vector<Rgb> want = {data::jet(0), data::jet(0.5), data::jet(1), data::jet(1), data::jet(0), data::jet(0.25)};
  for (int i = 0; i < 6; ++i) CHECK(Rgb{im.pixels[3 * i], im.pixels[3 * i + 1], im.pixels[3 * i + 2]} == want[i]);
  // [1, H, W] works too; lo and hi rescale: 2 -> 1, 0 -> 0.5
  Image scaled = data::colorize(map.reshape({1, 2, 3}), -2.0, 2.0);
  CHECK(Rgb{scaled.pixels[9], scaled.pixels[10], scaled.pixels[11]} == data::jet(1.0));
  CHECK(Rgb{scaled.pixels[0], scaled.pixels[1], scaled.pixels[2]} == data::jet(0.5));
  Image flat = data::colorize(map, 0.5, 0.5);
  for (int i = 0; i < 6; ++i)
    CHECK(Rgb{flat.pixels[3 * i], flat.pixels[3 * i + 1], flat.pixels[3 * i + 2]} == data::jet(0));
  CHECK_THROWS_WITH_AS(data::colorize(map, 1.0, 0.0), doctest::Contains("hi (0) is below lo (1)"), Error);
  CHECK_THROWS_WITH_AS(data::colorize(map.reshape({1, 1, 2, 3}), 0.0, 1.0), doctest::Contains("[1, 1, 2, 3]"), Error);
}

TEST_CASE("overlay blends with alpha and rounds, grey images count as RGB") {
  Image img(1, 1, 3), heat(1, 1, 3);
  img.pixels = {0, 100, 255};
  heat.pixels = {255, 0, 0};
  CHECK(data::overlay(img, heat, 0.0).pixels == img.pixels);
  CHECK(data::overlay(img, heat, 1.0).pixels == heat.pixels);
  CHECK(data::overlay(img, heat, 0.5).pixels == std::vector<uint8_t>{128, 50, 128});
  CHECK(data::overlay(img, heat, 0.25).pixels == std::vector<uint8_t>{64, 75, 191});
  Image grey(1, 1, 1, 40);
  CHECK(data::overlay(grey, heat, 0.5).pixels == std::vector<uint8_t>{148, 20, 20});
  CHECK_THROWS_WITH_AS(data::overlay(img, Image(2, 1, 3), 0.5),
                       doctest::Contains("image is 1 x 1 but heat map is 2 x 1"), Error);
  CHECK_THROWS_WITH_AS(data::overlay(img, heat, 1.5), doctest::Contains("alpha"), Error);
}

TEST_CASE("hconcat and the four report panels") {
  Image a(2, 2, 1, 10), b(1, 2, 3);
  b.pixels = {1, 2, 3, 4, 5, 6};
  Image row = data::hconcat({a, b}, 1);
  REQUIRE(row.width == 4);
  REQUIRE(row.height == 2);
  CHECK(std::vector<uint8_t>(row.pixels.begin(), row.pixels.begin() + 12) ==
        std::vector<uint8_t>{10, 10, 10, 10, 10, 10, 255, 255, 255, 1, 2, 3});
  CHECK(std::vector<uint8_t>(row.pixels.begin() + 12, row.pixels.end()) ==
        std::vector<uint8_t>{10, 10, 10, 10, 10, 10, 255, 255, 255, 4, 5, 6});
  CHECK_THROWS_WITH_AS(data::hconcat({a, Image(1, 3, 1)}), doctest::Contains("panel 1 is 3 pixels high, panel 0 is 2"),
                       Error);

  Image image(3, 3, 3, 200), mask(3, 3, 1, 0);
  mask.at(1, 1) = 255;
  auto map = tensor<float>({0, 0, 0, 0, 1, 0, 0, 0, 0.5}, {1, 3, 3});
  Image p = data::heatmap_panels(image, mask, map, 0.0, 1.0, 0.5, 2);
  REQUIRE(p.width == 4 * 3 + 3 * 2);
  REQUIRE(p.height == 3);
  Image heat = data::colorize(map, 0.0, 1.0);
  Image over = data::overlay(image, heat, 0.5);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x)
      for (int c = 0; c < 3; ++c) {
        CHECK(p.at(y, x, c) == 200);                    // image
        CHECK(p.at(y, 5 + x, c) == mask.at(y, x));      // ground truth, grey -> RGB
        CHECK(p.at(y, 10 + x, c) == heat.at(y, x, c));  // heat map
        CHECK(p.at(y, 15 + x, c) == over.at(y, x, c));  // overlay
      }
  CHECK(p.at(0, 3, 0) == 255);  // the gap
  Image no_mask = data::heatmap_panels(image, Image(), map, 0.0, 1.0);
  CHECK(no_mask.at(1, 3 + 4 + 1, 0) == 0);  // no mask: a black panel
  CHECK_THROWS_WITH_AS(data::heatmap_panels(image, mask, tensor<float>({0, 1}, {1, 2}), 0.0, 1.0),
                       doctest::Contains("but the map is [1, 2]"), Error);
}
