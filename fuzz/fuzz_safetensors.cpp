// Fuzz target: the safetensors reader (header length, JSON header, dtypes, shapes, offsets) and
// every tensor it accepts, converted to float and double.
#include <onenip/io/safetensors.hpp>

#include "fuzz_target.hpp"

ONENIP_FUZZ_TARGET(safetensors) {
  static const onenip::fuzz::Scratch scratch;
  const std::string path = scratch.write("input.safetensors", data, size);
  try {
    onenip::io::SafeTensorsFile f(path);
    (void)f.numel();
    for (const auto& t : f.tensors()) {
      if (onenip::numel_of(t.shape) > (1 << 20)) continue;  // bounded by the file size anyway
      (void)f.get<float>(t.name);
      (void)f.get<double>(t.name);
    }
  } catch (const onenip::Error&) {
  }
  return 0;
}
