// A second translation unit that includes the image header (and so its private stb copy):
// the program must link without duplicate symbols.
#include <onenip/io/image.hpp>

onenip::io::Image second_tu_roundtrip(const std::string& path, const onenip::io::Image& im) {
  onenip::io::save_png(path, im);
  return onenip::io::load_image(path, im.channels);
}
