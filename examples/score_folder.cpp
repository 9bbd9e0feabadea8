// Score every image of a folder with a trained run folder (onenip train):
//   onenip-score-folder RUN FOLDER
// prints per image its anomaly score, the class whose prompt it was compared with, and the
// decision when the run has thresholds (onenip calibrate), "uncalibrated" otherwise. The
// shortest use of pipeline::Detector: one image per call. decide.cpp batches eight images per
// call, needs thresholds, and writes the defect masks and regions.
#include <onenip/data/layouts/common.hpp>
#include <onenip/pipeline/detector.hpp>

#include <cstdio>

int main(int argc, char** argv) try {
  if (argc != 3) return std::fprintf(stderr, "usage: %s RUN FOLDER\n", argv[0]), 2;
  onenip::pipeline::Detector detector(argv[1]);  // loaded once: backbone, model, prompts, thresholds
  for (const auto& path : onenip::data::layouts::list_images(argv[2])) {
    const auto result = detector.score(onenip::io::load_image(path.string(), 3));
    const char* decision = !result.decided ? "uncalibrated" : result.anomalous ? "anomalous" : "normal";
    std::printf("%s  score %.4f  class %s  %s\n", path.filename().c_str(), result.image_score, result.cls.c_str(),
                decision);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "onenip-score-folder: %s\n", e.what());
  return 1;
}
