// safetensors files: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the raw little-endian data. https://github.com/huggingface/safetensors
//
// Reading memory-maps the file and checks everything before any tensor is handed out: the
// header length, the JSON, each dtype, each shape against its byte count, offsets inside the
// data and not overlapping. Every error names the file (and the tensor). Writing goes to a
// temporary file that is renamed into place, so a crash never leaves a half-written file.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "../ops/creation.hpp"

namespace onenip::io {

enum class DType { F32, F64, F16, BF16 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}
inline size_t dtype_size(DType d) { return d == DType::F64 ? 8 : d == DType::F32 ? 4 : 2; }

// IEEE half / bfloat16 <-> float.
inline float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do { ++e; man <<= 1; } while (!(man & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint16_t float_to_half(float f) {  // round to nearest even
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = int32_t((x >> 23) & 0xff) - 127 + 15;
  uint32_t man = x & 0x7fffff;
  if (((x >> 23) & 0xff) == 0xff) return uint16_t(sign | 0x7c00 | (man ? 0x200 : 0));
  if (exp >= 31) return uint16_t(sign | 0x7c00);
  if (exp <= 0) {
    if (exp < -10) return uint16_t(sign);
    man |= 0x800000;
    uint32_t shift = uint32_t(14 - exp);
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = sign | uint32_t(exp) << 10 | man >> 13, rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;
  return uint16_t(half);
}
inline float bf16_to_float(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return uint16_t((x >> 16) | 0x40);  // keep NaN a NaN
  return uint16_t((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  size_t begin = 0, end = 0;  // byte offsets into the data section
};

// A memory-mapped safetensors file, validated on open.
class SafeTensorsFile {
public:
  explicit SafeTensorsFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    ONENIP_CHECK(fd >= 0, "safetensors: cannot open '", path, "': ", std::strerror(errno));
    struct stat st{};
    ::fstat(fd, &st);
    size_ = size_t(st.st_size);
    void* p = size_ ? ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
    ::close(fd);
    ONENIP_CHECK(size_ == 0 || p != MAP_FAILED, "safetensors: cannot map '", path, "'");
    size_t len = size_;
    map_ = std::shared_ptr<void>(p, [len](void* q) {
      if (q) ::munmap(q, len);
    });
    parse();
  }

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const {
    auto it = index_.find(name);
    ONENIP_CHECK(it != index_.end(), "safetensors '", path_, "': no tensor named '", name, "'");
    return tensors_[it->second];
  }

  // The tensor converted to T (a copy; F32 into float is a plain memcpy).
  template <typename T>
  Tensor<T> get(const std::string& name) const {
    const TensorInfo& ti = info(name);
    Tensor<T> out = Tensor<T>::empty(ti.shape);
    const char* src = static_cast<const char*>(map_.get()) + data_start_ + ti.begin;
    int64_t n = out.numel();
    T* dst = out.data();
    switch (ti.dtype) {
      case DType::F32:
        if constexpr (std::is_same_v<T, float>) std::memcpy(dst, src, size_t(n) * 4);
        else for (int64_t i = 0; i < n; ++i) { float v; std::memcpy(&v, src + 4 * i, 4); dst[i] = T(v); }
        break;
      case DType::F64:
        for (int64_t i = 0; i < n; ++i) { double v; std::memcpy(&v, src + 8 * i, 8); dst[i] = T(v); }
        break;
      case DType::F16:
      case DType::BF16:
        for (int64_t i = 0; i < n; ++i) {
          uint16_t v;
          std::memcpy(&v, src + 2 * i, 2);
          dst[i] = T(ti.dtype == DType::F16 ? half_to_float(v) : bf16_to_float(v));
        }
        break;
    }
    return out;
  }

private:
  void parse() {
    ONENIP_CHECK(size_ >= 8, "safetensors '", path_, "': file is ", size_, " bytes, too short for a header");
    const char* base = static_cast<const char*>(map_.get());
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; --i) hlen = hlen << 8 | uint8_t(base[i]);
    ONENIP_CHECK(hlen <= size_ - 8, "safetensors '", path_, "': header length ", hlen, " runs past the end of the ",
                 size_, "-byte file (truncated?)");
    data_start_ = 8 + size_t(hlen);
    size_t data_size = size_ - data_start_;
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(base + 8, base + 8 + hlen);
    } catch (const std::exception& e) {
      detail::fail("safetensors '", path_, "': header is not valid JSON: ", e.what());
    }
    ONENIP_CHECK(header.is_object(), "safetensors '", path_, "': header is not a JSON object");
    for (auto& [key, val] : header.items()) {
      if (key == "__metadata__") {
        ONENIP_CHECK(val.is_object(), "safetensors '", path_, "': __metadata__ is not an object");
        for (auto& [mk, mv] : val.items()) metadata_[mk] = mv.is_string() ? mv.get<std::string>() : mv.dump();
        continue;
      }
      auto where = [&] { return "safetensors '" + path_ + "', tensor '" + key + "': "; };
      ONENIP_CHECK(val.is_object() && val.contains("dtype") && val.contains("shape") && val.contains("data_offsets"),
                   where(), "needs dtype, shape and data_offsets");
      TensorInfo ti;
      ti.name = key;
      std::string dt = val["dtype"].is_string() ? val["dtype"].get<std::string>() : val["dtype"].dump();
      if (dt == "F32") ti.dtype = DType::F32;
      else if (dt == "F64") ti.dtype = DType::F64;
      else if (dt == "F16") ti.dtype = DType::F16;
      else if (dt == "BF16") ti.dtype = DType::BF16;
      else detail::fail(where(), "unsupported dtype ", dt, " (F32, F64, F16 and BF16 are)");
      ONENIP_CHECK(val["shape"].is_array(), where(), "shape is not a list");
      for (auto& d : val["shape"]) {
        ONENIP_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, where(), "bad dimension ", d.dump());
        ti.shape.push_back(d.get<int64_t>());
      }
      auto& off = val["data_offsets"];
      ONENIP_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                   where(), "data_offsets must be two non-negative integers");
      ti.begin = off[0].get<size_t>();
      ti.end = off[1].get<size_t>();
      ONENIP_CHECK(ti.begin <= ti.end && ti.end <= data_size, where(), "data_offsets [", ti.begin, ", ", ti.end,
                   "] lie outside the ", data_size, "-byte data section (truncated file?)");
      size_t want = size_t(numel_of(ti.shape)) * dtype_size(ti.dtype);
      ONENIP_CHECK(ti.end - ti.begin == want, where(), "shape ", shape_str(ti.shape), " of ", dt, " needs ", want,
                   " bytes but data_offsets span ", ti.end - ti.begin);
      index_[key] = tensors_.size();
      tensors_.push_back(std::move(ti));
    }
    std::vector<const TensorInfo*> by_offset;
    for (auto& t : tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); ++i)
      ONENIP_CHECK(by_offset[i]->begin >= by_offset[i - 1]->end, "safetensors '", path_, "': tensors '",
                   by_offset[i - 1]->name, "' and '", by_offset[i]->name, "' overlap");
  }

  std::string path_;
  size_t size_ = 0, data_start_ = 0;
  std::shared_ptr<void> map_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Write `tensors` (name -> tensor) as `dtype`, atomically: a temporary file beside `path`,
// flushed, then renamed over it.
template <typename T>
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor<T>>>& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      DType dtype = sizeof(T) == 8 ? DType::F64 : DType::F32) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (auto& [name, t] : tensors) {
    ONENIP_CHECK(!header.contains(name), "save_safetensors '", path, "': tensor name '", name, "' used twice");
    size_t bytes = size_t(t.numel()) * dtype_size(dtype);
    header[name] = {{"dtype", dtype_name(dtype)}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    ONENIP_CHECK(f.good(), "save_safetensors: cannot write '", tmp, "'");
    uint64_t n = h.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = char((n >> (8 * i)) & 0xff);
    f.write(len, 8);
    f.write(h.data(), std::streamsize(h.size()));
    std::vector<char> buf;
    for (auto& [name, t] : tensors) {
      Tensor<T> c = t.detach().contiguous();
      buf.resize(size_t(c.numel()) * dtype_size(dtype));
      for (int64_t i = 0; i < c.numel(); ++i) {
        double v = double(c.data()[i]);
        char* dst = buf.data() + size_t(i) * dtype_size(dtype);
        if (dtype == DType::F64) std::memcpy(dst, &v, 8);
        else if (dtype == DType::F32) { float x = float(v); std::memcpy(dst, &x, 4); }
        else { uint16_t x = dtype == DType::F16 ? float_to_half(float(v)) : float_to_bf16(float(v)); std::memcpy(dst, &x, 2); }
      }
      f.write(buf.data(), std::streamsize(buf.size()));
    }
    f.flush();
    ONENIP_CHECK(f.good(), "save_safetensors: write to '", tmp, "' failed (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  ONENIP_CHECK(!ec, "save_safetensors: cannot rename '", tmp, "' to '", path, "': ", ec.message());
}

}  // namespace onenip::io
