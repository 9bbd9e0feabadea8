#include <unistd.h>

#include "commands.hpp"
#include "workflow.hpp"

namespace onenip::cli {

namespace {
// One image's line of results.jsonl.
nlohmann::json result_json(const std::string& path, const io::Image& im, const pipeline::Score& s,
                           const std::optional<pipeline::Thresholds>& t) {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json j = {{"image", path}, {"score", s.image_score}, {"class", s.cls}, {"width", im.width},
                      {"height", im.height}};
  if (!s.decided) return j;
  j["decision"] = s.anomalous ? "anomalous" : "normal";
  j["normalized_score"] = num(s.normalized);
  j["threshold"] = t->image;
  j["pixel_threshold"] = t->pixel;
  nlohmann::json regions = nlohmann::json::array();
  const double pixels = double(im.width) * double(im.height);
  for (auto& r : s.regions)
    regions.push_back({{"x", r.x0}, {"y", r.y0}, {"width", r.x1 - r.x0 + 1}, {"height", r.y1 - r.y0 + 1},
                       {"area", r.area}, {"area_percent", 100.0 * double(r.area) / pixels}, {"peak", r.peak},
                       {"peak_normalized", num(t->normalize_pixel(r.peak))}});
  j["regions"] = regions;
  return j;
}
}  // namespace

Action add_infer(CLI::App& app) {
  auto run = std::make_shared<std::string>(), out = std::make_shared<std::string>(), cls = std::make_shared<std::string>();
  auto weights = std::make_shared<std::string>();
  auto images = std::make_shared<std::vector<std::string>>();
  auto threshold = std::make_shared<double>(NAN), pixel_threshold = std::make_shared<double>(NAN);
  auto batch = std::make_shared<int>(8);
  auto device = add_device_option(app);
  app.add_option("--checkpoint", *run, "run folder written by `onenip train`")->required()->check(CLI::ExistingDirectory);
  app.add_option("--out", *out, "folder for overlays, masks and results.jsonl")->required();
  app.add_option("--class", *cls, "known class of every image (default: chosen by cosine similarity)");
  app.add_option("--weights", *weights, "backbone weights, if they moved since training");
  app.add_option("--threshold", *threshold, "image-score threshold (raw score), instead of the run's thresholds.json");
  app.add_option("--pixel-threshold", *pixel_threshold,
                 "pixel-score threshold of the masks (default: the run's, or --threshold when it has none)");
  app.add_option("--batch", *batch, "images per model pass")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  app.add_option("images", *images, "images to score")->required()->check(CLI::ExistingFile);
  return [=]() {
    pipeline::Detector det(*run, *weights, pipeline::parse_device(*device));
    auto t = det.thresholds();
    if (!std::isnan(*threshold) || !std::isnan(*pixel_threshold)) {
      ONENIP_CHECK(t || !std::isnan(*threshold), "infer: --pixel-threshold needs --threshold too, or a calibrated run");
      if (!t) t.emplace();
      t->method = "flag";
      if (!std::isnan(*threshold)) t->image = *threshold;
      t->pixel = !std::isnan(*pixel_threshold) ? *pixel_threshold : det.thresholds() ? t->pixel : *threshold;
    }
    det.set_thresholds(t);
    if (!t)
      std::fprintf(stderr, "note: %s has no thresholds.json, so no decisions or masks: run `onenip calibrate`, or "
                           "give --threshold\n", run->c_str());
    std::filesystem::create_directories(*out);
    const bool tty = isatty(fileno(stderr));
    std::string lines;
    const auto how = cls->empty() ? pipeline::PromptSelection::Cosine : pipeline::PromptSelection::KnownClass;
    for (size_t b = 0; b < images->size(); b += size_t(*batch)) {
      size_t e = std::min(images->size(), b + size_t(*batch));
      std::vector<io::Image> ims;
      for (size_t i = b; i < e; ++i) ims.push_back(io::load_image((*images)[i], 3));
      auto scores = det.score(ims, how, *cls);
      for (size_t k = 0; k < ims.size(); ++k) {
        const std::string& path = (*images)[b + k];
        const io::Image& im = ims[k];
        auto& s = scores[k];
        // the map back at the original size; one colour range for every overlay of the run
        TensorF map = s.decided ? s.full_map
                                : resize_bilinear(s.map.reshape({1, 1, s.map.size(0), s.map.size(1)}), im.height,
                                                  im.width, false).reshape({im.height, im.width});
        io::Image heat = data::colorize(map, 0.0, map_colour_top(det));
        std::string stem = (std::filesystem::path(*out) / std::filesystem::path(path).stem()).string();
        io::save_png(stem + "_overlay.png", data::overlay(im, heat, 0.5));
        nlohmann::json j = result_json(path, im, s, t);
        j["overlay"] = stem + "_overlay.png";
        if (s.decided) io::save_png(stem + "_mask.png", s.mask), j["mask"] = stem + "_mask.png";
        std::printf("%s\n", j.dump().c_str());
        lines += j.dump() + "\n";
      }
      std::fprintf(stderr, "%sinfer: %zu/%zu images%s", tty ? "\r" : "", e, images->size(), tty ? "" : "\n");
    }
    if (tty) std::fprintf(stderr, "\n");
    io::write_file_atomically(*out + "/results.jsonl", lines, "infer");
    return 0;
  };
}

}  // namespace onenip::cli
