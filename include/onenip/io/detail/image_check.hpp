// Checks made on an image file's bytes before stb_image decodes them, for inputs that the stb
// version we build against (Debian's, v2.27) mishandles instead of refusing.
//
// JPEG Huffman tables (DHT segments): each table lists 16 code counts and then that many
// symbols; stb_image 2.27 stores the counts' code sizes into a 257-entry array without checking
// that they sum to at most 256 (a JPEG allows 256 symbols), so a file with larger counts writes
// past the table (found by fuzz/fuzz_image.cpp). Later stb versions refuse it; we refuse it first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace onenip::detail {

// Why the DHT segment at `seg` (its payload: `len` bytes after the length field) is bad, or "".
inline std::string jpeg_dht_error(const uint8_t* seg, size_t len) {
  size_t at = 0;
  while (at < len) {
    if (len - at < 17) return "a Huffman table (DHT) is cut short";
    const int cls = seg[at] >> 4, id = seg[at] & 15;
    if (cls > 1 || id > 3) return "a Huffman table (DHT) has class " + std::to_string(cls) + " and id " + std::to_string(id);
    size_t symbols = 0;
    for (int i = 1; i <= 16; ++i) symbols += seg[at + size_t(i)];
    if (symbols > 256) return "a Huffman table (DHT) lists " + std::to_string(symbols) + " codes (at most 256)";
    at += 17 + symbols;
  }
  if (at != len) return "a Huffman table (DHT) runs past its segment";
  return "";
}

// Why a JPEG's structure is unsafe to hand to stb_image, or "" (also for files that are not
// JPEG). Walks the file as stb's decoder does: a marker is 0xFF (any fill of 0xFF), then a code;
// segments with a length are skipped by it, and everything else, entropy-coded data included
// (where 0xFF 0x00 is a stuffed byte and 0xFF 0xD0..0xD7 a restart), byte by byte, so every
// DHT stb would read, before or between scans, is checked.
inline std::string jpeg_structure_error(const uint8_t* p, size_t n) {
  size_t soi = 0;  // stb takes any run of 0xFF fill bytes before the start-of-image code too
  while (soi < n && p[soi] == 0xFF) ++soi;
  if (soi == 0 || soi >= n || p[soi] != 0xD8) return "";
  for (size_t at = soi + 1; at + 1 < n;) {
    if (p[at] != 0xFF) {
      ++at;
      continue;
    }
    size_t code_at = at + 1;
    while (code_at < n && p[code_at] == 0xFF) ++code_at;  // fill bytes
    if (code_at >= n) break;
    const uint8_t code = p[code_at];
    at = code_at + 1;
    const bool standalone = code == 0x00 || code == 0x01 || (code >= 0xD0 && code <= 0xD9);
    if (standalone) continue;
    if (n - at < 2) return "a segment header is cut short";
    const size_t len = size_t(p[at]) << 8 | p[at + 1];
    if (len < 2) return "a segment has length " + std::to_string(len);
    if (code == 0xC4) {
      if (len - 2 > n - at - 2) return "a Huffman table (DHT) segment runs past the end of the file";
      std::string why = jpeg_dht_error(p + at + 2, len - 2);
      if (!why.empty()) return why;
    }
    at += len;  // past the segment; after a scan header (SOS), its entropy-coded data is walked byte by byte
  }
  return "";
}

}  // namespace onenip::detail
