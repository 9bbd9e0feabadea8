/// \file
/// A small seeded multi-class anomaly dataset, written to disk in the MVTec AD layout, so the demo
/// needs nothing downloaded. Three classes of different nature:
///   weave  (a texture: fractal noise with a woven grain)
///   disc   (an object: a shaded disc with a rim on a plain background, slightly moved per image)
///   grid   (a regular pattern: dark dots on a light lattice)
/// and four defect kinds, each with its pixel mask: scratch, stain, hole, blob.
#pragma once

#include <algorithm>
#include <filesystem>

#include "../io/image.hpp"
#include "augment.hpp"
#include "perlin.hpp"

namespace onenip::data {

struct DemoDatasetOptions {
  int size = 128;           ///< image side
  int train_per_class = 60;
  int good_test_per_class = 10;
  int defects_per_kind = 4; ///< per class and defect kind
  uint64_t seed = 7;
};

}  // namespace onenip::data

namespace onenip::detail {
inline io::Image render_normal(const std::string& cls, int S, Generator& g) {
  io::Image im(S, S, 3);
  if (cls == "weave") {
    data::FloatMap n = data::fractal_perlin(S, S, 4, 3, 0.5f, g);
    double tint = g.uniform(-8, 8);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        double grain = 12 * std::sin(x * 0.9) * std::sin(y * 0.9);
        double v = 120 + 40 * n.at(y, x) + grain;
        im.at(y, x, 0) = clamp_u8(v + 30 + tint), im.at(y, x, 1) = clamp_u8(v + 10), im.at(y, x, 2) = clamp_u8(v - 20);
      }
  } else if (cls == "disc") {
    double cx = S / 2.0 + g.uniform(-3, 3), cy = S / 2.0 + g.uniform(-3, 3), r = S * 0.34;
    double light = g.uniform(-10, 10);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        double d = std::hypot(x - cx, y - cy);
        double bg = 40 + 0.1 * y + g.normal() * 2;
        if (d < r) {
          double shade = 150 + light + 60 * (1 - d / r) - 0.2 * (x - cx);
          im.at(y, x, 0) = clamp_u8(shade * 0.6), im.at(y, x, 1) = clamp_u8(shade * 0.9);
          im.at(y, x, 2) = clamp_u8(shade);
        } else if (d < r + 4) {
          im.at(y, x, 0) = im.at(y, x, 1) = im.at(y, x, 2) = clamp_u8(210 + light);
        } else {
          im.at(y, x, 0) = im.at(y, x, 1) = im.at(y, x, 2) = clamp_u8(bg);
        }
      }
  } else {  // grid
    int period = 16, ox = int(g.randint(0, period)), oy = int(g.randint(0, period));
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        int px = (x + ox) % period, py = (y + oy) % period;
        bool line = px < 2 || py < 2;
        bool dot = std::hypot(px - period / 2.0, py - period / 2.0) < 3.5;
        double v = line ? 150 : dot ? 60 : 225;
        v += g.normal() * 3;
        im.at(y, x, 0) = clamp_u8(v), im.at(y, x, 1) = clamp_u8(v), im.at(y, x, 2) = clamp_u8(v * 0.95);
      }
  }
  return im;
}

// Paint one defect of `kind` into `im`; marks its pixels in `mask` (255).
inline void paint_defect(io::Image& im, io::Image& mask, const std::string& kind, Generator& g) {
  const int S = im.width;
  auto mark = [&](int y, int x, double r, double gg, double b) {
    if (x < 0 || y < 0 || x >= S || y >= S) return;
    im.at(y, x, 0) = clamp_u8(r), im.at(y, x, 1) = clamp_u8(gg), im.at(y, x, 2) = clamp_u8(b);
    mask.at(y, x) = 255;
  };
  double cx = g.uniform(S * 0.3, S * 0.7), cy = g.uniform(S * 0.3, S * 0.7);
  if (kind == "scratch") {  // a thin bright line
    double a = g.uniform(0, 3.14159), len = g.uniform(S * 0.2, S * 0.4);
    for (double t = -len / 2; t <= len / 2; t += 0.5)
      for (int w = -1; w <= 1; ++w)
        mark(int(cy + t * std::sin(a) + w * std::cos(a)), int(cx + t * std::cos(a) - w * std::sin(a)), 250, 245, 230);
  } else if (kind == "stain") {  // a tinted irregular patch that keeps the texture
    data::FloatMap n = data::perlin_noise(S, S, 4, 4, g);
    double r = g.uniform(S * 0.08, S * 0.14);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
        if (std::hypot(x - cx, y - cy) < r * (1 + 0.5 * n.at(y, x)))
          mark(y, x, im.at(y, x, 0) * 0.5 + 90, im.at(y, x, 1) * 0.5 + 20, im.at(y, x, 2) * 0.4);
  } else if (kind == "hole") {  // a dark round hole
    double r = g.uniform(S * 0.04, S * 0.08);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x)
        if (std::hypot(x - cx, y - cy) < r) mark(y, x, 10, 10, 12);
  } else {  // blob: a smooth bump of another colour
    double r = g.uniform(S * 0.06, S * 0.1), hue = g.uniform(0, 1);
    for (int y = 0; y < S; ++y)
      for (int x = 0; x < S; ++x) {
        double d = std::hypot(x - cx, (y - cy) * 1.4);
        if (d < r) mark(y, x, 80 + 150 * hue, 200 - 100 * hue, 60);
      }
  }
}
}  // namespace onenip::detail

namespace onenip::data {

inline const std::vector<std::string>& demo_classes() {
  static const std::vector<std::string> c{"weave", "disc", "grid"};
  return c;
}
inline const std::vector<std::string>& demo_defects() {
  static const std::vector<std::string> d{"scratch", "stain", "hole", "blob"};
  return d;
}

/// Write the dataset under `root` (`root/<class>/train/good`, `test/<kind>`, `ground_truth/<kind>`).
inline void write_demo_dataset(const std::string& root, const DemoDatasetOptions& o = {}) {
  namespace fs = std::filesystem;
  for (size_t c = 0; c < demo_classes().size(); ++c) {
    const std::string& cls = demo_classes()[c];
    fs::path base = fs::path(root) / cls;
    fs::create_directories(base / "train" / "good");
    fs::create_directories(base / "test" / "good");
    Generator g(o.seed * 1000 + c);
    char name[32];
    for (int i = 0; i < o.train_per_class; ++i) {
      std::snprintf(name, sizeof name, "%03d.png", i);
      io::save_png((base / "train" / "good" / name).string(), detail::render_normal(cls, o.size, g));
    }
    for (int i = 0; i < o.good_test_per_class; ++i) {
      std::snprintf(name, sizeof name, "%03d.png", i);
      io::save_png((base / "test" / "good" / name).string(), detail::render_normal(cls, o.size, g));
    }
    for (auto& kind : demo_defects()) {
      fs::create_directories(base / "test" / kind);
      fs::create_directories(base / "ground_truth" / kind);
      for (int i = 0; i < o.defects_per_kind; ++i) {
        io::Image im = detail::render_normal(cls, o.size, g), mask(o.size, o.size, 1);
        detail::paint_defect(im, mask, kind, g);
        std::snprintf(name, sizeof name, "%03d", i);
        io::save_png((base / "test" / kind / (std::string(name) + ".png")).string(), im);
        io::save_png((base / "ground_truth" / kind / (std::string(name) + "_mask.png")).string(), mask);
      }
    }
  }
}

}  // namespace onenip::data
