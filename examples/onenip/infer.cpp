#include "commands.hpp"
#include "workflow.hpp"

namespace onenip::cli {

Action add_infer(CLI::App& app) {
  auto run = std::make_shared<std::string>(), out = std::make_shared<std::string>(), cls = std::make_shared<std::string>();
  auto weights = std::make_shared<std::string>();
  auto images = std::make_shared<std::vector<std::string>>();
  app.add_option("--checkpoint", *run, "run folder written by `onenip train`")->required()->check(CLI::ExistingDirectory);
  app.add_option("--out", *out, "folder for overlays and results.jsonl")->required();
  app.add_option("--class", *cls, "known class of every image (default: chosen by cosine similarity)");
  app.add_option("--weights", *weights, "backbone weights, if they moved since training");
  app.add_option("images", *images, "images to score")->required()->check(CLI::ExistingFile);
  return [=]() {
    pipeline::Detector det(*run, *weights);
    std::filesystem::create_directories(*out);
    std::string lines;
    // one colour range for every overlay of the run: [0, the scale's map of a typical anomaly]
    for (auto& path : *images) {
      io::Image im = io::load_image(path, 3);
      auto s = det.score(im, cls->empty() ? pipeline::PromptSelection::Cosine : pipeline::PromptSelection::KnownClass, *cls);
      // the map back at the original size for the overlay
      TensorF map = resize_bilinear(s.map.reshape({1, 1, s.map.size(0), s.map.size(1)}), im.height, im.width, false);
      map = map.reshape({im.height, im.width});
      io::Image heat = data::colorize(map, 0.0, std::max(1e-6, 2 * det.fusion_scale()));
      std::string stem = std::filesystem::path(path).stem().string();
      std::string png = (std::filesystem::path(*out) / (stem + "_overlay.png")).string();
      io::save_png(png, data::overlay(im, heat, 0.5));
      nlohmann::json j = {{"image", path}, {"score", s.image_score}, {"class", s.cls}, {"overlay", png},
                          {"width", im.width}, {"height", im.height}};
      std::printf("%s\n", j.dump().c_str());
      lines += j.dump() + "\n";
    }
    io::write_file_atomically(*out + "/results.jsonl", lines, "infer");
    return 0;
  };
}

}  // namespace onenip::cli
