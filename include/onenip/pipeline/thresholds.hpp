/// \file
/// Operating points stored in a run folder (thresholds.json): the image and pixel thresholds, the
/// range of scores they were fitted on (for normalised scores), and where they came from.
///
/// Normalised score, as anomalib computes it: (score - threshold) / (max - min) + 0.5, clipped to
/// [0, 1], with min and max over the calibration images, so 0.5 is the decision boundary whatever
/// the run's raw scale.
#pragma once

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "../io/atomic_file.hpp"
#include "config.hpp"

namespace onenip::pipeline {

struct Thresholds {
  double image = NAN, pixel = NAN;          ///< raw: a score >= threshold is anomalous
  double image_min = NAN, image_max = NAN;  ///< image scores of the calibration images
  double pixel_min = NAN, pixel_max = NAN;  ///< their pixel scores (NaN: not calibrated, no normalised scores)
  std::string method;  ///< "f1" (labelled images), "percentile" (normal ones) or "flag" (given by hand)
  double image_percentile = NAN, pixel_percentile = NAN;  ///< with "percentile"
  double image_f1 = NAN, pixel_f1 = NAN;    ///< with "f1": on the calibration images (optimistic)
  std::vector<std::string> sources;         ///< the --data folders
  std::vector<std::string> images;          ///< every calibration image (absolute paths)
  int anomalous = 0;                        ///< how many of them had a defect
  std::string date;                         ///< UTC, ISO 8601

  static std::string path(const std::string& run) { return run + "/thresholds.json"; }

  static double normalize(double score, double threshold, double lo, double hi) {
    double n = (score - threshold) / std::max(hi - lo, 1e-12) + 0.5;
    return std::clamp(n, 0.0, 1.0);
  }
  double normalize_image(double s) const { return normalize(s, image, image_min, image_max); }
  double normalize_pixel(double s) const { return normalize(s, pixel, pixel_min, pixel_max); }

  /// How many of `paths` were calibration images (a report on them is optimistic).
  size_t overlap(const std::vector<std::string>& paths) const {
    std::set<std::string> mine(images.begin(), images.end());
    size_t n = 0;
    for (auto& p : paths) n += mine.count(absolute(p));
    return n;
  }
  /// One line for people: the thresholds and their origin.
  std::string describe() const {
    std::ostringstream s;
    s << "image threshold " << image << ", pixel threshold " << pixel << " (";
    if (method == "flag") return s.str() + "given on the command line)";
    if (method == "f1")
      s << "F1-optimal";
    else
      s << "percentile " << image_percentile << " / " << pixel_percentile << " of normal scores";
    s << ", fitted on " << images.size() << " images (" << anomalous << " anomalous) from";
    for (auto& f : sources) s << " " << f;
    s << ", " << date << ")";
    return s.str();
  }

  nlohmann::json to_json() const {
    auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
    return {{"image", image}, {"pixel", pixel}, {"image_min", num(image_min)}, {"image_max", num(image_max)},
            {"pixel_min", num(pixel_min)}, {"pixel_max", num(pixel_max)}, {"method", method},
            {"image_percentile", num(image_percentile)}, {"pixel_percentile", num(pixel_percentile)},
            {"image_f1", num(image_f1)}, {"pixel_f1", num(pixel_f1)}, {"sources", sources},
            {"anomalous", anomalous}, {"date", date}, {"images", images}};
  }
  static Thresholds from_json(const nlohmann::json& j) {
    auto num = [&](const char* k) { return j.at(k).is_null() ? NAN : j.at(k).get<double>(); };
    Thresholds t;
    t.image = num("image"), t.pixel = num("pixel");
    t.image_min = num("image_min"), t.image_max = num("image_max");
    t.pixel_min = num("pixel_min"), t.pixel_max = num("pixel_max");
    t.method = j.at("method").get<std::string>();
    t.image_percentile = num("image_percentile"), t.pixel_percentile = num("pixel_percentile");
    t.image_f1 = num("image_f1"), t.pixel_f1 = num("pixel_f1");
    t.sources = j.at("sources").get<std::vector<std::string>>();
    t.images = j.at("images").get<std::vector<std::string>>();
    t.anomalous = j.at("anomalous").get<int>();
    t.date = j.at("date").get<std::string>();
    ONENIP_CHECK(std::isfinite(t.image) && std::isfinite(t.pixel), "thresholds must be numbers");
    return t;
  }

  void save(const std::string& run) const {
    io::write_file_atomically(path(run), to_json().dump(2) + "\n", "calibrate");
  }
  /// The run's thresholds, or nothing when it has not been calibrated.
  static std::optional<Thresholds> load(const std::string& run) {
    if (!std::filesystem::exists(path(run))) return std::nullopt;
    try {
      std::ifstream f(path(run));
      return from_json(nlohmann::json::parse(f));
    } catch (const std::exception& e) {
      onenip::detail::fail("'", path(run), "': ", e.what(), " (run `onenip calibrate` again to rewrite it)");
    }
  }

  static std::string absolute(const std::string& p) {
    return std::filesystem::absolute(p).lexically_normal().string();
  }
  static std::string utc_now() {
    std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
  }
};

}  // namespace onenip::pipeline
