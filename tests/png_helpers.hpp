// Test support: PNG files stb_image_write cannot make (16-bit samples, an alpha channel, a header
// that lies about the size), written here byte by byte: unfiltered rows in stored (uncompressed)
// deflate blocks, every chunk with its CRC, so only what a test changes on purpose is wrong.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace testing {

inline uint32_t png_crc32(const std::string& bytes) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

inline std::string big_endian32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

inline std::string png_chunk(const std::string& type, const std::string& data) {
  return big_endian32(uint32_t(data.size())) + type + data + big_endian32(png_crc32(type + data));
}

// A PNG of w x h pixels of `channels` (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) samples of `depth`
// bits (8 or 16, stored big-endian), from the samples in row-major interleaved order.
inline std::string png_file(int w, int h, int channels, int depth, const std::vector<uint16_t>& samples) {
  const char colour_type[] = {0, 0, 4, 2, 6};
  std::string raw;  // the filtered rows: filter type 0 (none), then the row's bytes
  for (int y = 0; y < h; ++y) {
    raw += '\0';
    for (int i = 0; i < w * channels; ++i) {
      uint16_t v = samples[size_t(y * w * channels + i)];
      if (depth == 16) raw += char(v >> 8);
      raw += char(v & 0xff);
    }
  }
  std::string z = "\x78\x01";  // zlib header: deflate, no dictionary
  for (size_t at = 0; at == 0 || at < raw.size(); at += 65535) {
    const size_t n = std::min<size_t>(65535, raw.size() - at);
    z += char(at + n == raw.size() ? 1 : 0);  // BFINAL, BTYPE 00 (stored)
    z += {char(n & 0xff), char(n >> 8), char(~n & 0xff), char((~n >> 8) & 0xff)};
    z += raw.substr(at, n);
  }
  uint32_t a = 1, b = 0;  // Adler-32 of the uncompressed bytes
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  z += big_endian32(b << 16 | a);
  std::string ihdr = big_endian32(uint32_t(w)) + big_endian32(uint32_t(h)) +
                     std::string{char(depth), colour_type[channels], 0, 0, 0};
  return "\x89PNG\r\n\x1a\n" + png_chunk("IHDR", ihdr) + png_chunk("IDAT", z) + png_chunk("IEND", "");
}

// The same file with a header that says the image is w x h (its CRC made right, so only the
// size is wrong).
inline std::string with_header_size(const std::string& png, uint32_t w, uint32_t h) {
  std::string ihdr = png.substr(16, 13);
  ihdr.replace(0, 8, big_endian32(w) + big_endian32(h));
  return png.substr(0, 8) + png_chunk("IHDR", ihdr) + png.substr(33);
}

}  // namespace testing
