/// \file
/// safetensors files: an 8-byte little-endian header length N, N bytes of JSON
/// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
/// then the raw little-endian data. https://github.com/huggingface/safetensors
///
/// Reading memory-maps the file (only the pages of the tensors asked for are read) and checks
/// everything before any tensor is handed out: the header length, the JSON, each dtype, each
/// shape against its byte count, offsets inside the data and not overlapping. Every error
/// names the file (and the tensor). get() copies out of the mapping, so a tensor never outlives
/// the file it came from. Writing is atomic (io/atomic_file.hpp).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "../ops/creation.hpp"
#include "atomic_file.hpp"
#include "float16.hpp"

namespace onenip::io {

/// Dtypes this reader converts to float/double. Integer ones appear in PyTorch state dicts
/// (BatchNorm's num_batches_tracked is I64); writing is float only.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
inline constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2}, {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1}};

inline const char* dtype_name(DType d) { return kDTypes[size_t(d)].name; }
inline size_t dtype_size(DType d) { return kDTypes[size_t(d)].size; }
inline bool dtype_is_float(DType d) { return d == DType::F64 || d == DType::F32 || d == DType::F16 || d == DType::BF16; }

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  size_t begin = 0, end = 0;  ///< byte offsets into the data section
};

using Metadata = std::map<std::string, std::string>;

namespace detail {
template <typename V>
V load_le(const char* s, int64_t i) {  // element i of packed little-endian Vs (x86/ARM are little-endian)
  V v;
  std::memcpy(&v, s + i * int64_t(sizeof(V)), sizeof(V));
  return v;
}

// n elements of dtype `d` from raw data into dst, converted to T.
template <typename T>
void convert_from(DType d, const char* src, T* dst, int64_t n) {
  auto each = [&](auto read) {
    parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) dst[i] = T(read(src, i));
    });
  };
  switch (d) {
    case DType::F64: return each(load_le<double>);
    case DType::F32:
      if constexpr (std::is_same_v<T, float>) return void(std::memcpy(dst, src, size_t(n) * 4));
      else return each(load_le<float>);
    case DType::F16: return each([](const char* s, int64_t i) { return half_to_float(load_le<uint16_t>(s, i)); });
    case DType::BF16: return each([](const char* s, int64_t i) { return bf16_to_float(load_le<uint16_t>(s, i)); });
    case DType::I64: return each(load_le<int64_t>);
    case DType::I32: return each(load_le<int32_t>);
    case DType::I16: return each(load_le<int16_t>);
    case DType::I8: return each(load_le<int8_t>);
    case DType::U8: return each(load_le<uint8_t>);
    case DType::BOOL: return each([](const char* s, int64_t i) { return s[i] != 0; });
  }
}
}  // namespace detail

/// A memory-mapped safetensors file, validated on open.
class SafeTensorsFile {
public:
  explicit SafeTensorsFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ONENIP_CHECK(fd >= 0, "safetensors '", path, "': cannot open: ", std::strerror(errno));
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      onenip::detail::fail("safetensors '", path, "': not a regular file");
    }
    size_ = size_t(st.st_size);
    void* p = size_ ? ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
    int err = errno;
    ::close(fd);
    ONENIP_CHECK(size_ == 0 || p != MAP_FAILED, "safetensors '", path, "': cannot map: ", std::strerror(err));
    size_t len = size_;
    map_ = std::shared_ptr<void>(p, [len](void* q) {
      if (q) ::munmap(q, len);
    });
    parse();
  }

  const std::string& path() const { return path_; }
  const Metadata& metadata() const { return metadata_; }
  /// In file order (by data offset).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  const TensorInfo& info(const std::string& name) const {
    auto it = index_.find(name);
    ONENIP_CHECK(it != index_.end(), "safetensors '", path_, "': no tensor named '", name, "'");
    return tensors_[it->second];
  }
  /// Total elements over all tensors.
  int64_t numel() const {
    int64_t n = 0;
    for (auto& t : tensors_) n += numel_of(t.shape);
    return n;
  }

  /// The tensor converted to T: a fresh copy that does not depend on the file staying open.
  template <typename T>
  Tensor<T> get(const std::string& name) const {
    const TensorInfo& ti = info(name);
    Tensor<T> out = Tensor<T>::empty(ti.shape);
    detail::convert_from(ti.dtype, static_cast<const char*>(map_.get()) + data_start_ + ti.begin, out.data(),
                         out.numel());
    return out;
  }

private:
  [[noreturn]] void fail_tensor(const std::string& name, const std::string& why) const {
    onenip::detail::fail("safetensors '", path_, "', tensor '", name, "': ", why);
  }

  void parse() {
    ONENIP_CHECK(size_ >= 8, "safetensors '", path_, "': file is ", size_, " bytes, too short for the 8-byte header length");
    const char* base = static_cast<const char*>(map_.get());
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; --i) hlen = hlen << 8 | uint8_t(base[i]);
    ONENIP_CHECK(hlen <= size_ - 8, "safetensors '", path_, "': header length ", hlen, " runs past the end of the ",
                 size_, "-byte file (truncated, or not a safetensors file)");
    data_start_ = 8 + size_t(hlen);
    const size_t data_size = size_ - data_start_;
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(base + 8, base + 8 + hlen);
    } catch (const std::exception& e) {
      onenip::detail::fail("safetensors '", path_, "': header is not valid JSON: ", e.what());
    }
    ONENIP_CHECK(header.is_object(), "safetensors '", path_, "': header is not a JSON object");
    for (auto& [key, val] : header.items()) {
      if (key == "__metadata__") {
        ONENIP_CHECK(val.is_object(), "safetensors '", path_, "': __metadata__ is not an object");
        for (auto& [mk, mv] : val.items()) metadata_[mk] = mv.is_string() ? mv.get<std::string>() : mv.dump();
        continue;
      }
      tensors_.push_back(parse_entry(key, val, data_size));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](auto& a, auto& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
    // Sorted by begin, a tensor overlaps an earlier one iff it starts before the furthest end so
    // far (`last`: the non-empty tensor reaching furthest; empty tensors overlap nothing).
    const TensorInfo* last = nullptr;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const TensorInfo& t = tensors_[i];
      index_[t.name] = i;
      if (t.begin == t.end) continue;
      if (last && t.begin < last->end)
        onenip::detail::fail("safetensors '", path_, "': tensors '", last->name, "' (bytes ", last->begin, "..",
                             last->end, ") and '", t.name, "' (bytes ", t.begin, "..", t.end, ") overlap");
      last = &t;
    }
  }

  TensorInfo parse_entry(const std::string& key, const nlohmann::json& val, size_t data_size) const {
    if (!(val.is_object() && val.contains("dtype") && val.contains("shape") && val.contains("data_offsets")))
      fail_tensor(key, "entry needs dtype, shape and data_offsets");
    TensorInfo ti;
    ti.name = key;
    const std::string dt = val["dtype"].is_string() ? val["dtype"].get<std::string>() : val["dtype"].dump();
    auto known = std::find_if(std::begin(kDTypes), std::end(kDTypes), [&](auto& k) { return dt == k.name; });
    if (known == std::end(kDTypes))
      fail_tensor(key, "unknown or unsupported dtype '" + dt + "' (readable: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    ti.dtype = known->dtype;
    if (!val["shape"].is_array()) fail_tensor(key, "shape is not a list");
    size_t want = dtype_size(ti.dtype);
    for (auto& d : val["shape"]) {
      if (!d.is_number_unsigned()) fail_tensor(key, "bad dimension " + d.dump() + " in shape " + val["shape"].dump());
      ti.shape.push_back(d.get<int64_t>());
      if (__builtin_mul_overflow(want, d.get<size_t>(), &want) || ti.shape.back() < 0)
        fail_tensor(key, "shape " + val["shape"].dump() + " is too large");
    }
    auto& off = val["data_offsets"];
    if (!(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned()))
      fail_tensor(key, "data_offsets must be two non-negative integers, got " + off.dump());
    ti.begin = off[0].get<size_t>();
    ti.end = off[1].get<size_t>();
    if (ti.begin > ti.end || ti.end > data_size)
      fail_tensor(key, "data_offsets [" + std::to_string(ti.begin) + ", " + std::to_string(ti.end) +
                           "] lie outside the " + std::to_string(data_size) + "-byte data section (truncated file?)");
    if (ti.end - ti.begin != want)
      fail_tensor(key, "shape " + shape_str(ti.shape) + " of " + dt + " needs " + std::to_string(want) +
                           " bytes but data_offsets span " + std::to_string(ti.end - ti.begin));
    return ti;
  }

  std::string path_;
  size_t size_ = 0, data_start_ = 0;
  std::shared_ptr<void> map_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  Metadata metadata_;
};

/// Write `tensors` (name -> tensor, in this order) as `dtype` (F64, F32, F16 or BF16), atomically.
template <typename T>
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor<T>>>& tensors,
                      const Metadata& metadata = {}, DType dtype = sizeof(T) == 8 ? DType::F64 : DType::F32) {
  ONENIP_CHECK(dtype_is_float(dtype), "save_safetensors '", path, "': cannot write dtype ", dtype_name(dtype),
               " (F64, F32, F16 and BF16 can be written)");
  // ordered_json keeps __metadata__ first and the tensors in the caller's order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (auto& [name, t] : tensors) {
    ONENIP_CHECK(!name.empty() && name != "__metadata__", "save_safetensors '", path, "': invalid tensor name '", name, "'");
    ONENIP_CHECK(!header.contains(name), "save_safetensors '", path, "': tensor name '", name, "' used twice");
    ONENIP_CHECK(t.defined(), "save_safetensors '", path, "': tensor '", name, "' is undefined");
    size_t bytes = size_t(t.numel()) * dtype_size(dtype);
    header[name] = {{"dtype", dtype_name(dtype)}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // align the data section to 8 bytes, as the reference writer does
  atomic_write(path, [&](FileSink& out) {
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(h.data(), h.size());
    std::vector<char> buf;
    for (auto& [name, t] : tensors) {
      Tensor<T> c = t.detach().cpu().contiguous();  // a device tensor is written from the host
      const int64_t n = c.numel();
      const size_t es = dtype_size(dtype);
      if (es == sizeof(T) && (dtype == DType::F64) == (sizeof(T) == 8)) {
        out.write(c.data(), size_t(n) * es);  // already in the file's layout
        continue;
      }
      buf.resize(size_t(n) * es);
      const T* src = c.data();
      for (int64_t i = 0; i < n; ++i) {
        char* dst = buf.data() + size_t(i) * es;
        if (dtype == DType::F64) { double v = double(src[i]); std::memcpy(dst, &v, 8); }
        else if (dtype == DType::F32) { float v = float(src[i]); std::memcpy(dst, &v, 4); }
        else { uint16_t v = dtype == DType::F16 ? float_to_half(float(src[i])) : float_to_bf16(float(src[i])); std::memcpy(dst, &v, 2); }
      }
      out.write(buf.data(), buf.size());
    }
  });
}

}  // namespace onenip::io
