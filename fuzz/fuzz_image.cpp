// Fuzz target: image decoding (stb_image behind io::load_image: PNG, JPEG, BMP and whatever
// else stb recognises), as stored, grey and RGB.
#include <onenip/io/image.hpp>

#include "fuzz_target.hpp"

ONENIP_FUZZ_TARGET(image) {
  static const onenip::fuzz::Scratch scratch;
  const std::string path = scratch.write("input.img", data, size);
  for (int channels : {0, 1, 3}) {
    try {
      onenip::io::Image im = onenip::io::load_image(path, channels);
      if (im.pixels.size() != size_t(im.width) * size_t(im.height) * size_t(im.channels)) __builtin_trap();
    } catch (const onenip::Error&) {
    }
  }
  return 0;
}
