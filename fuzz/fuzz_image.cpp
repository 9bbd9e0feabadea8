// Fuzz target: image decoding (stb_image behind io::load_image: PNG, JPEG, BMP and whatever
// else stb recognises), as stored, grey and RGB, and as a defect mask (io::load_mask: 8 or 16
// bits, any channel count).
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
  try {
    onenip::io::Image mask = onenip::io::load_mask(path);
    if (mask.channels != 1 || mask.pixels.size() != size_t(mask.width) * size_t(mask.height)) __builtin_trap();
  } catch (const onenip::Error&) {
  }
  return 0;
}
