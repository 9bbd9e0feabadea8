// Decide on a folder of images with a trained, calibrated run (onenip train, onenip calibrate):
//   onenip-decide RUN FOLDER OUT
// prints, per image, the verdict, the normalised score (0.5 is the boundary) and the largest
// defect regions, and writes the defect mask as OUT/<name>.png.
#include <onenip/data/layouts/common.hpp>
#include <onenip/pipeline/detector.hpp>

#include <cstdio>

int main(int argc, char** argv) try {
  if (argc != 4) return std::fprintf(stderr, "usage: %s RUN FOLDER OUT\n", argv[0]), 2;
  onenip::pipeline::Detector det(argv[1]);  // loads the run's thresholds.json
  ONENIP_CHECK(det.thresholds(), "'", argv[1], "' has no thresholds.json: run `onenip calibrate` first");
  std::vector<std::string> paths;
  for (auto& p : onenip::data::layouts::list_images(argv[2])) paths.push_back(p.string());
  std::string masks = argv[3];
  std::filesystem::create_directories(masks);
  for (size_t b = 0; b < paths.size(); b += 8) {  // eight images per model pass
    std::vector<onenip::io::Image> images;
    for (size_t i = b; i < std::min(paths.size(), b + 8); ++i) images.push_back(onenip::io::load_image(paths[i], 3));
    auto results = det.score(images);
    for (size_t k = 0; k < results.size(); ++k) {
      auto& r = results[k];
      std::printf("%s: %s (%.3f), %zu region(s)", paths[b + k].c_str(), r.anomalous ? "anomalous" : "normal",
                  r.normalized, r.regions.size());
      for (size_t i = 0; i < r.regions.size() && i < 3; ++i)
        std::printf("; %lld px at (%lld, %lld)", (long long)r.regions[i].area, (long long)r.regions[i].x0,
                    (long long)r.regions[i].y0);
      std::printf("\n");
      onenip::io::save_png(masks + "/" + std::filesystem::path(paths[b + k]).stem().string() + ".png", r.mask);
    }
  }
} catch (const std::exception& e) {
  std::fprintf(stderr, "onenip-decide: %s\n", e.what());
  return 1;
}
