// Image files: round trips, channel conversion, decoding against PIL, and the error messages.
#include <onenip/io/image.hpp>

#include "helpers.hpp"
#include "file_helpers.hpp"
#include "png_helpers.hpp"

using namespace onenip;
using io::Image;

// Defined in test_image_second_tu.cpp: the image header compiled in a second translation unit.
Image second_tu_roundtrip(const std::string& path, const Image& im);

namespace {

const std::string kFixtures = std::string(ONENIP_SOURCE_DIR) + "/tests/fixtures/";

Image pattern(int w, int h, int c) {
  Image im(w, h, c);
  for (size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = uint8_t((i * 37 + i / 7) % 256);
  return im;
}

// The largest |a - b| over all pixels, against a PIL fixture stored as float [H, W, C].
int max_diff(const Image& im, const TensorF& ref) {
  REQUIRE(ref.shape() == Shape{im.height, im.width, im.channels});
  int worst = 0;
  for (size_t i = 0; i < im.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(im.pixels[i]) - int(ref.data()[i])));
  return worst;
}

}  // namespace

TEST_CASE("PNG round trip keeps every byte, grey and RGB, and leaves no temporary file") {
  testing::TempDir tmp;
  for (int c : {1, 3}) {
    Image im = pattern(7, 5, c);
    std::string path = tmp / (std::to_string(c) + "ch.png");
    io::save_png(path, im);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    Image back = io::load_image(path, 0);
    CHECK(back.width == 7);
    CHECK(back.height == 5);
    CHECK(back.channels == c);
    CHECK(back.pixels == im.pixels);
  }
}

TEST_CASE("the image header works in two translation units of one program") {
  testing::TempDir tmp;
  Image im = pattern(4, 3, 3);
  Image back = second_tu_roundtrip(tmp / "second.png", im);
  CHECK(back.pixels == im.pixels);
  io::save_png(tmp / "first.png", im);
  CHECK(io::load_image(tmp / "first.png").pixels == back.pixels);
}

TEST_CASE("channel conversion: grey is replicated, RGB becomes the rounded BT.601 luma") {
  Image rgb(4, 1, 3);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30};
  Image grey = io::convert_channels(rgb, 1);
  // 0.299 * 255 = 76.2, 0.587 * 255 = 149.7, 0.114 * 255 = 29.1, 2.99 + 117.4 + 3.42 = 123.8
  CHECK(grey.pixels == std::vector<uint8_t>{76, 150, 29, 124});
  Image back = io::convert_channels(grey, 3);
  CHECK(back.pixels == std::vector<uint8_t>{76, 76, 76, 150, 150, 150, 29, 29, 29, 124, 124, 124});

  testing::TempDir tmp;
  io::save_png(tmp / "g.png", grey);
  CHECK(io::load_image(tmp / "g.png", 3).pixels == back.pixels);  // grey file read as RGB
  io::save_png(tmp / "c.png", rgb);
  CHECK(io::load_image(tmp / "c.png", 1).pixels == grey.pixels);  // RGB file read as grey
}

TEST_CASE("decoding agrees with PIL: RGB to grey within one level, JPEG within two") {
  io::SafeTensorsFile fx(kFixtures + "image_fixtures.safetensors");
  // PIL's convert("L") rounds in 16-bit fixed point; ours in exact decimal.
  CHECK(max_diff(io::load_image(kFixtures + "img_synth_rgb.png", 1), fx.get<float>("synth_grey_from_rgb")) <= 1);
  CHECK(max_diff(io::load_image(kFixtures + "img_synth_grey.png", 1), fx.get<float>("synth_grey_from_rgb")) == 0);
  // stb_image and libjpeg (PIL; OpenCV in the reference) use different IDCTs and chroma upsampling.
  int grey = max_diff(io::load_image(kFixtures + "img_synth_grey.jpg", 1), fx.get<float>("synth_grey_jpeg_decoded"));
  int rgb = max_diff(io::load_image(kFixtures + "img_synth_rgb.jpg", 3), fx.get<float>("synth_rgb_jpeg_decoded"));
  MESSAGE("JPEG decode vs PIL, max |diff|: grey ", grey, ", RGB (4:2:0) ", rgb);
  CHECK(grey <= 2);
  CHECK(rgb <= 2);
}

TEST_CASE("JPEG and BMP: written and read back") {
  testing::TempDir tmp;
  Image im(16, 16, 3);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x)
      im.at(y, x, 0) = uint8_t(x * 16), im.at(y, x, 1) = uint8_t(y * 16), im.at(y, x, 2) = 128;
  io::save_jpeg(tmp / "a.jpg", im, 95);
  Image back = io::load_image(tmp / "a.jpg");
  double err = 0;
  for (size_t i = 0; i < im.pixels.size(); ++i) err += std::abs(int(im.pixels[i]) - int(back.pixels[i]));
  CHECK(err / double(im.pixels.size()) < 3.0);  // lossy, but close on a smooth image

  // BTAD images are BMP: write one with stb's writer and read it back exactly.
  std::vector<uint8_t> bytes;
  REQUIRE(stbi_write_bmp_to_func(onenip::detail::append_bytes, &bytes, im.width, im.height, 3, im.pixels.data()));
  io::write_file_atomically(tmp / "a.bmp", bytes, "test");
  CHECK(io::load_image(tmp / "a.bmp").pixels == im.pixels);
}

TEST_CASE("errors name the file and say why") {
  testing::TempDir tmp;
  std::string missing = tmp / "nope.png";
  CHECK_THROWS_WITH_AS(io::load_image(missing), doctest::Contains("nope.png': No such file"), Error);
  CHECK_THROWS_WITH_AS(io::load_image(tmp.path().string()), doctest::Contains("is a directory"), Error);
  std::string text = tmp.write("notes.png", "this is not an image at all");
  CHECK_THROWS_WITH_AS(io::load_image(text), doctest::Contains("notes.png': not a PNG, JPEG or BMP image"), Error);
  std::string empty = tmp.write("empty.png", "");
  CHECK_THROWS_WITH_AS(io::load_image(empty), doctest::Contains("empty.png': the file is empty"), Error);

  // A PNG cut in half: the header parses, the pixel data runs out.
  io::save_png(tmp / "whole.png", pattern(64, 64, 3));
  auto whole = onenip::detail::read_file_bytes(tmp / "whole.png", "test");
  std::string cut(whole.begin(), whole.begin() + ptrdiff_t(whole.size() / 2));
  std::string truncated = tmp.write("cut.png", cut);
  CHECK_THROWS_WITH_AS(io::load_image(truncated), doctest::Contains("cut.png': cannot decode"), Error);
  CHECK_THROWS_WITH_AS(io::load_image(truncated), doctest::Contains("truncated or corrupt"), Error);

  CHECK_THROWS_WITH_AS(io::load_image(tmp / "whole.png", 2), doctest::Contains("channels must be"), Error);
  CHECK_THROWS_WITH_AS(io::save_png(tmp / "no/such/dir/x.png", pattern(2, 2, 1)), doctest::Contains("x.png.tmp"),
                       Error);
  CHECK_THROWS_WITH_AS(io::save_png(tmp / "e.png", Image()), doctest::Contains("e.png': image is empty"), Error);
  Image bad = pattern(2, 2, 3);
  bad.pixels.pop_back();
  CHECK_THROWS_WITH_AS(io::save_jpeg(tmp / "b.jpg", bad), doctest::Contains("do not match 2 x 2 x 3"), Error);
  CHECK_THROWS_WITH_AS(io::save_jpeg(tmp / "q.jpg", pattern(2, 2, 3), 0), doctest::Contains("quality"), Error);
  CHECK_THROWS_WITH_AS(Image(2, 2, 4), doctest::Contains("channels 1 or 3"), Error);
}

TEST_CASE("a PNG whose header claims more pixels than the file holds is refused, naming the file and both sizes") {
  testing::TempDir tmp;
  const std::string png = testing::png_file(8, 8, 1, 8, std::vector<uint16_t>(64, 7));
  REQUIRE(io::load_image(tmp.write("true.png", png), 0).pixels == std::vector<uint8_t>(64, 7));
  // far more than any deflate stream this short can hold: refused before stb_image allocates 100 MB
  std::string huge = tmp.write("huge.png", testing::with_header_size(png, 10000, 10000));
  CHECK_THROWS_WITH_AS(io::load_image(huge), doctest::Contains(("'" + huge + "': the header says 10000 x 10000 pixels, "
                                                                "more than a " + std::to_string(png.size()) +
                                                                "-byte file can hold").c_str()),
                       Error);
  // plausible for the file's size, but the pixel data runs out
  std::string big = tmp.write("big.png", testing::with_header_size(png, 64, 64));
  CHECK_THROWS_WITH_AS(io::load_image(big), doctest::Contains("big.png': cannot decode (stb_image: Corrupt PNG)"), Error);
  CHECK_THROWS_WITH_AS(io::load_mask(huge), doctest::Contains(("load_mask '" + huge + "': the header says").c_str()), Error);
}

TEST_CASE("16-bit PNGs read as 8 bits, the high byte of each sample, grey and RGB") {
  testing::TempDir tmp;
  const std::vector<uint16_t> grey{0x0000, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xffff};
  Image g = io::load_image(tmp.write("g16.png", testing::png_file(6, 1, 1, 16, grey)), 0);
  CHECK(g.channels == 1);
  CHECK(g.pixels == std::vector<uint8_t>{0, 0, 1, 127, 128, 255});
  CHECK(io::load_image(tmp / "g16.png", 3).pixels ==
        std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 127, 127, 127, 128, 128, 128, 255, 255, 255});
  Image rgb = io::load_image(tmp.write("rgb16.png", testing::png_file(2, 1, 3, 16, {0x1234, 0xff00, 0x00ff, 0xabcd, 0, 0x8001})));
  CHECK(rgb.channels == 3);
  CHECK(rgb.pixels == std::vector<uint8_t>{0x12, 0xff, 0x00, 0xab, 0x00, 0x80});
}

TEST_CASE("grey + alpha and RGBA images read as grey and RGB, the alpha dropped") {
  testing::TempDir tmp;
  // two pixels, one opaque and one transparent: the colour is kept either way
  Image ga = io::load_image(tmp.write("ga.png", testing::png_file(2, 1, 2, 8, {10, 255, 200, 0})), 0);
  CHECK(ga.channels == 1);
  CHECK(ga.pixels == std::vector<uint8_t>{10, 200});
  Image rgba = io::load_image(tmp.write("rgba.png", testing::png_file(2, 1, 4, 8, {1, 2, 3, 255, 40, 50, 60, 0})), 0);
  CHECK(rgba.channels == 3);
  CHECK(rgba.pixels == std::vector<uint8_t>{1, 2, 3, 40, 50, 60});
  CHECK(io::load_image(tmp / "rgba.png", 1).pixels == std::vector<uint8_t>{io::luma601(1, 2, 3), io::luma601(40, 50, 60)});
}

TEST_CASE("masks: any non-zero sample is a defect, in 16-bit, RGB and RGBA files alike") {
  testing::TempDir tmp;
  // 16 bits: 1 and 0x00ff have a zero high byte, but are defects
  Image m16 = io::load_mask(tmp.write("m16.png", testing::png_file(4, 1, 1, 16, {0, 1, 0x00ff, 0x1234})));
  CHECK(m16.channels == 1);
  CHECK(m16.pixels == std::vector<uint8_t>{0, 1, 1, 0x12});
  // colour: the largest channel, where the luma of pure dark blue would round to 0
  Image rgb = io::load_mask(tmp.write("rgb.png", testing::png_file(3, 1, 3, 8, {0, 0, 0, 0, 0, 1, 200, 0, 0})));
  CHECK(rgb.pixels == std::vector<uint8_t>{0, 1, 200});
  CHECK(io::load_mask(tmp.write("rgba.png", testing::png_file(2, 1, 4, 8, {0, 0, 0, 255, 0, 9, 0, 0}))).pixels ==
        std::vector<uint8_t>{0, 9});
  CHECK_THROWS_WITH_AS(io::load_mask(tmp.write("e.png", "")), doctest::Contains(("load_mask '" + tmp / "e.png" + "': the file is empty").c_str()), Error);
}
