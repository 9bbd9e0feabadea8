/// \file
/// Textures for the Perlin paste (docs/onenip.md, section 4): the authors paste DTD images, which
/// this project does not ship; without a texture folder we generate fractal Perlin noise in random
/// colours, stripes, checkers and blotches, or take a crop of another training image.
/// TextureSource hands out one S x S RGB texture per call.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "perlin.hpp"
#include "resize.hpp"

namespace onenip::detail {
// Two random colours blended by a map in [0, 1].
inline io::Image two_tone(const data::FloatMap& t, Generator& gen) {
  double c0[3], c1[3];
  for (int k = 0; k < 3; ++k) c0[k] = gen.uniform(0, 255), c1[k] = gen.uniform(0, 255);
  io::Image img(t.width, t.height, 3);
  for (int y = 0; y < t.height; ++y)
    for (int x = 0; x < t.width; ++x) {
      double a = std::clamp(double(t.at(y, x)), 0.0, 1.0);
      for (int k = 0; k < 3; ++k) img.at(y, x, k) = uint8_t(std::lround(c0[k] * (1 - a) + c1[k] * a));
    }
  return img;
}
}  // namespace onenip::detail

namespace onenip::data {

enum class TextureKind { FractalNoise, Stripes, Checkers, Blotches };

inline io::Image generate_texture(int size, TextureKind kind, Generator& gen) {
  FloatMap t(size, size);
  switch (kind) {
    case TextureKind::FractalNoise: {
      t = fractal_perlin(size, size, int(gen.randint(2, 5)), 4, 0.5f, gen);
      for (auto& v : t.values) v = 0.5f + 0.5f * v;
      break;
    }
    case TextureKind::Stripes: {
      double period = gen.uniform(4, 24), angle = gen.uniform(0, 3.141592653589793);
      double cx = std::cos(angle), sy = std::sin(angle), soft = gen.uniform();
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          double s = std::sin(6.283185307179586 * (x * cx + y * sy) / period);
          t.at(y, x) = float(soft < 0.5 ? (s > 0 ? 1.0 : 0.0) : 0.5 + 0.5 * s);
        }
      break;
    }
    case TextureKind::Checkers: {
      int cell = int(gen.randint(4, 33));
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) t.at(y, x) = float(((x / cell) + (y / cell)) % 2);
      break;
    }
    case TextureKind::Blotches: {
      FloatMap n = perlin_noise(size, size, int(gen.randint(2, 9)), int(gen.randint(2, 9)), gen);
      double level = gen.uniform(-0.2, 0.2);
      for (size_t i = 0; i < t.values.size(); ++i) t.values[i] = n.values[i] > level ? 1.f : 0.f;
      break;
    }
  }
  return detail::two_tone(t, gen);
}

/// Where Perlin-paste textures come from: files in a folder (any depth; DTD's images/*/*.jpg
/// included), else generated kinds, optionally mixed with crops of the caller's images.
class TextureSource {
public:
  /// `dir` empty: generated textures only.
  explicit TextureSource(const std::string& dir = "") {
    if (dir.empty()) return;
    namespace fs = std::filesystem;
    ONENIP_CHECK(fs::is_directory(dir), "textures: '", dir, "' is not a folder");
    for (auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file()) continue;
      std::string ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
      if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp") files_.push_back(e.path().string());
    }
    std::sort(files_.begin(), files_.end());
    ONENIP_CHECK(!files_.empty(), "textures: no .jpg/.jpeg/.png/.bmp files under '", dir, "'");
  }

  /// Optional: a callback returning another training image (any size), used for one draw in five.
  void set_image_crops(std::function<io::Image(Generator&)> f) { crops_ = std::move(f); }
  size_t file_count() const { return files_.size(); }

  io::Image sample(int size, Generator& gen) const {
    if (!files_.empty()) {
      auto& path = files_[size_t(gen.randint(0, int64_t(files_.size())))];
      return resize_image(io::load_image(path, 3), size, size);
    }
    if (crops_ && gen.uniform() < 0.2) return random_crop(crops_(gen), size, gen);
    return generate_texture(size, TextureKind(gen.randint(0, 4)), gen);
  }

private:
  static io::Image random_crop(const io::Image& src, int size, Generator& gen) {
    io::Image rgb = src.channels == 3 ? src : io::convert_channels(src, 3);
    int side = int(std::min(rgb.width, rgb.height) * gen.uniform(0.3, 1.0));
    side = std::max(side, 1);
    int x0 = int(gen.randint(0, rgb.width - side + 1)), y0 = int(gen.randint(0, rgb.height - side + 1));
    io::Image crop(side, side, 3);
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x)
        for (int c = 0; c < 3; ++c) crop.at(y, x, c) = rgb.at(y0 + y, x0 + x, c);
    return resize_image(crop, size, size);
  }

  std::vector<std::string> files_;
  std::function<io::Image(Generator&)> crops_;
};

}  // namespace onenip::data
