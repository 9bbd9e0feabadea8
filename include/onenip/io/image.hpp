/// \file
/// 8-bit images in memory and on disk: PNG, JPEG and BMP in (8 or 16 bits, 1 to 4 channels);
/// PNG and JPEG out (stb_image).
///
/// Image is H x W x C, interleaved, row-major: pixels[(y * width + x) * channels + c], C = 1 (grey)
/// or 3 (RGB). load_image converts to the channel count asked for; writers go through a temporary
/// file renamed into place, so a crash never leaves a half-written image.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/error.hpp"
#include "atomic_file.hpp"
#include "detail/image_check.hpp"
#include "detail/stb.hpp"

namespace onenip::io {

struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  ///< [H, W, C] interleaved

  Image() = default;
  Image(int w, int h, int c, uint8_t fill = 0) : width(w), height(h), channels(c) {
    ONENIP_CHECK(w >= 0 && h >= 0 && (c == 1 || c == 3), "Image: bad size ", w, " x ", h, " x ", c,
                 " (width and height >= 0, channels 1 or 3)");
    pixels.assign(size_t(w) * size_t(h) * size_t(c), fill);
  }
  bool empty() const { return pixels.empty(); }
  uint8_t& at(int y, int x, int c = 0) { return pixels[(size_t(y) * width + x) * channels + c]; }
  uint8_t at(int y, int x, int c = 0) const { return pixels[(size_t(y) * width + x) * channels + c]; }
};

/// ITU-R BT.601 luma, rounded: Y = (299 R + 587 G + 114 B) / 1000 (what PIL's convert("L") and
/// OpenCV's grey conversion compute, up to their fixed-point rounding).
inline uint8_t luma601(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}

/// The image with `channels` channels: grey -> RGB replicates, RGB -> grey takes the luma.
inline Image convert_channels(const Image& im, int channels) {
  ONENIP_CHECK(channels == 1 || channels == 3, "convert_channels: channels must be 1 or 3, got ", channels);
  if (im.channels == channels) return im;
  Image out(im.width, im.height, channels);
  size_t n = size_t(im.width) * im.height;
  const uint8_t* s = im.pixels.data();
  uint8_t* d = out.pixels.data();
  if (channels == 3)
    for (size_t i = 0; i < n; ++i) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
  else
    for (size_t i = 0; i < n; ++i) d[i] = luma601(s[3 * i], s[3 * i + 1], s[3 * i + 2]);
  return out;
}

}  // namespace onenip::io

// Helpers live in onenip::detail: a nested io::detail would hide onenip::detail::fail from io code.
namespace onenip::detail {

inline std::vector<uint8_t> read_file_bytes(const std::string& path, const char* who) {
  std::error_code ec;
  ONENIP_CHECK(!std::filesystem::is_directory(path, ec), who, ": '", path, "' is a directory, not an image file");
  std::ifstream f(path, std::ios::binary);
  ONENIP_CHECK(f.good(), who, ": cannot open '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ONENIP_CHECK(!f.bad(), who, ": error reading '", path, "'");
  return bytes;
}

inline void append_bytes(void* context, void* data, int size) {
  auto* v = static_cast<std::vector<uint8_t>*>(context);
  auto* p = static_cast<const uint8_t*>(data);
  v->insert(v->end(), p, p + size);
}

inline void check_writable(const io::Image& im, const std::string& path, const char* who) {
  ONENIP_CHECK(im.width > 0 && im.height > 0, who, " '", path, "': image is empty (", im.width, " x ", im.height, ")");
  ONENIP_CHECK(im.channels == 1 || im.channels == 3, who, " '", path, "': channels must be 1 or 3, got ", im.channels);
  ONENIP_CHECK(im.pixels.size() == size_t(im.width) * im.height * im.channels, who, " '", path, "': ", im.pixels.size(),
               " pixel bytes do not match ", im.width, " x ", im.height, " x ", im.channels);
}

// An image file's bytes and what its header says, checked before anything is decoded: not empty,
// an image stb_image reads, and no more pixels than the file can hold. Deflate (PNG) packs at
// most 1032 bytes into one and a pixel takes at least one bit (a 1-bit PNG; JPEG needs a bit per
// 8 x 8 block, BMP a bit per pixel), so a header claiming more than 8 * 1032 pixels per byte of
// file lies, and is refused before stb_image allocates the image it claims.
struct ImageFile {
  std::vector<uint8_t> bytes;
  int width = 0, height = 0, stored = 0;  // stored channels: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA
  bool sixteen_bit = false;
  int size() const { return int(bytes.size()); }
};

inline ImageFile read_image_file(const std::string& path, const char* who) {
  ImageFile f;
  f.bytes = read_file_bytes(path, who);
  ONENIP_CHECK(!f.bytes.empty(), who, " '", path, "': the file is empty");
  ONENIP_CHECK(f.bytes.size() <= size_t(INT32_MAX), who, " '", path, "': file too large");
  // stb_image 2.27 writes out of bounds on some malformed JPEGs: refuse those before it decodes
  const std::string unsafe = jpeg_structure_error(f.bytes.data(), f.bytes.size());
  ONENIP_CHECK(unsafe.empty(), who, " '", path, "': corrupt JPEG: ", unsafe);
  if (!stbi_info_from_memory(f.bytes.data(), f.size(), &f.width, &f.height, &f.stored))
    fail(who, " '", path, "': not a PNG, JPEG or BMP image (stb_image: ", stbi_failure_reason(), ")");
  const uint64_t pixels = uint64_t(f.width) * uint64_t(f.height), most = uint64_t(f.bytes.size()) * 8 * 1032;
  ONENIP_CHECK(f.width > 0 && f.height > 0 && pixels <= most, who, " '", path, "': the header says ", f.width, " x ",
               f.height, " pixels, more than a ", f.bytes.size(), "-byte file can hold (a wrong header, or a truncated file)");
  f.sixteen_bit = stbi_is_16_bit_from_memory(f.bytes.data(), f.size());
  return f;
}

// Decode to `channels` (1 or 3, alpha dropped) as T: uint8_t, or uint16_t for a 16-bit PNG.
template <typename T>
std::vector<T> decode_pixels(const ImageFile& f, const std::string& path, const char* who, int channels) {
  int w = 0, h = 0, n = 0;
  void* data = std::is_same_v<T, uint16_t> ? (void*)stbi_load_16_from_memory(f.bytes.data(), f.size(), &w, &h, &n, channels)
                                           : (void*)stbi_load_from_memory(f.bytes.data(), f.size(), &w, &h, &n, channels);
  if (!data)
    fail(who, " '", path, "': cannot decode (stb_image: ", stbi_failure_reason(), "); the file is truncated or corrupt");
  if (w != f.width || h != f.height) {
    stbi_image_free(data);
    fail(who, " '", path, "': decoded ", w, " x ", h, " pixels, but the header says ", f.width, " x ", f.height);
  }
  const T* p = static_cast<const T*>(data);
  std::vector<T> out(p, p + size_t(w) * size_t(h) * size_t(channels));
  stbi_image_free(data);
  return out;
}

}  // namespace onenip::detail

namespace onenip::io {

/// Decode a PNG, JPEG or BMP file. channels: 3 = RGB, 1 = grey, 0 = as stored (grey or RGB). An
/// alpha channel is dropped; 16-bit PNGs keep the high byte of each sample (as OpenCV's 8-bit
/// reads do). Errors name the file and say why (missing, empty, not an image, a header that claims
/// more pixels than the file holds, truncated or corrupt data).
inline Image load_image(const std::string& path, int channels = 3) {
  ONENIP_CHECK(channels == 0 || channels == 1 || channels == 3, "load_image '", path,
               "': channels must be 0 (as stored), 1 or 3, got ", channels);
  const auto file = onenip::detail::read_image_file(path, "load_image");
  // Decode to the stored colour layout (without alpha) and convert ourselves, so the grey
  // conversion is the rounded BT.601 luma rather than stb's truncated one.
  Image im;
  im.width = file.width, im.height = file.height, im.channels = file.stored >= 3 ? 3 : 1;
  im.pixels = onenip::detail::decode_pixels<uint8_t>(file, path, "load_image", im.channels);
  return convert_channels(im, channels ? channels : im.channels);
}

/// A defect mask as grey: 0 where every colour channel is 0 (normal), else > 0 (defect), read
/// from grey or colour files of 8 or 16 bits. Unlike load_image, no luma and no dropped low byte,
/// which could turn a faint defect label (say 1 in 16 bits, or pure dark blue) into 0.
inline Image load_mask(const std::string& path) {
  const auto file = onenip::detail::read_image_file(path, "load_mask");
  const int C = file.stored >= 3 ? 3 : 1;
  Image m(file.width, file.height, 1);
  auto fill = [&](const auto& px, auto to8) {
    for (size_t i = 0; i < m.pixels.size(); ++i)
      m.pixels[i] = to8(*std::max_element(px.begin() + ptrdiff_t(i * C), px.begin() + ptrdiff_t(i * C + C)));
  };
  if (file.sixteen_bit)
    fill(onenip::detail::decode_pixels<uint16_t>(file, path, "load_mask", C),
         [](uint16_t v) { return uint8_t(v == 0 ? 0 : std::max(1, v >> 8)); });
  else
    fill(onenip::detail::decode_pixels<uint8_t>(file, path, "load_mask", C), [](uint8_t v) { return v; });
  return m;
}

/// An 8-bit PNG (grey or RGB) in memory.
inline std::vector<uint8_t> encode_png(const Image& im, const std::string& what = "image") {
  onenip::detail::check_writable(im, what, "encode_png");
  std::vector<uint8_t> bytes;
  int ok = stbi_write_png_to_func(onenip::detail::append_bytes, &bytes, im.width, im.height, im.channels, im.pixels.data(),
                                  im.width * im.channels);
  ONENIP_CHECK(ok && !bytes.empty(), "encode_png '", what, "': PNG encoding failed");
  return bytes;
}

/// Write an 8-bit PNG (grey or RGB).
inline void save_png(const std::string& path, const Image& im) {
  write_file_atomically(path, encode_png(im, path), "save_png");
}

/// Write a baseline JPEG, quality 1..100.
inline void save_jpeg(const std::string& path, const Image& im, int quality = 95) {
  onenip::detail::check_writable(im, path, "save_jpeg");
  ONENIP_CHECK(quality >= 1 && quality <= 100, "save_jpeg '", path, "': quality must be 1..100, got ", quality);
  std::vector<uint8_t> bytes;
  int ok =
      stbi_write_jpg_to_func(onenip::detail::append_bytes, &bytes, im.width, im.height, im.channels, im.pixels.data(), quality);
  ONENIP_CHECK(ok && !bytes.empty(), "save_jpeg '", path, "': JPEG encoding failed");
  write_file_atomically(path, bytes, "save_jpeg");
}

}  // namespace onenip::io
