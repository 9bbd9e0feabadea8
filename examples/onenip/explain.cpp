// `onenip explain`: one figure row per image with every stage of the score side by side
// (docs/onenip.md, sections 5 and 7): image | ground truth | S_rec | S_ref | fused map | overlay.
#include "commands.hpp"
#include "workflow.hpp"

namespace onenip::cli {

namespace {
const std::vector<std::string> kColumns = {"image", "mask", "rec", "ref", "map", "overlay"};

// The ground-truth mask of an image in the MVTec AD layout (ROOT/test/<defect>/<stem>.png ->
// ROOT/ground_truth/<defect>/<stem>_mask.png), 0 / 255, S x S; empty (drawn black) for a normal
// image or one outside that layout. A defective image whose mask is missing, or is not the
// image's size, is an error (data::load_mask, as in evaluation).
io::Image ground_truth(const std::filesystem::path& image, const io::Image& original, int size) {
  const std::filesystem::path defect_dir = image.parent_path(), test_dir = defect_dir.parent_path();
  data::Sample sample;
  sample.image = image.string(), sample.defect = defect_dir.filename().string(), sample.label = 1;
  if (test_dir.filename() != "test" || data::layouts::is_normal_folder(sample.defect)) return {};
  sample.mask = data::layouts::find_mask(test_dir.parent_path(), sample.defect, image).string();
  io::Image m = data::resize_mask(data::load_mask(sample, original.width, original.height), size, size);
  for (auto& v : m.pixels) v = v ? 255 : 0;
  return m;
}
}  // namespace

Action add_explain(CLI::App& app) {
  auto run = std::make_shared<std::string>(), out = std::make_shared<std::string>("explain.png");
  auto cls = std::make_shared<std::string>(), weights = std::make_shared<std::string>();
  auto images = std::make_shared<std::vector<std::string>>();
  auto columns = std::make_shared<std::vector<std::string>>(kColumns);
  auto cell = std::make_shared<int>(0);
  auto device = add_device_option(app);
  app.add_option("--checkpoint", *run, "run folder written by `onenip train`")->required()->check(CLI::ExistingDirectory);
  app.add_option("--out", *out, "PNG to write: one row per image")->capture_default_str();
  app.add_option("--class", *cls, "known class of every image (default: chosen by cosine similarity)");
  app.add_option("--weights", *weights, "backbone weights, if they moved since training");
  app.add_option("--columns", *columns,
                 "panels of a row, in order: image (as the model sees it), mask (ground truth, found in the MVTec AD "
                 "layout, else black), rec (S_rec), ref (S_ref), map (fused), overlay (map over image)")
      ->check(CLI::IsMember(kColumns))->delimiter(',')->capture_default_str();
  app.add_option("--cell", *cell, "side of each panel in pixels (0: the run's input size)")
      ->capture_default_str()->check(CLI::Range(0, 4096));
  app.add_option("images", *images, "images to explain, one row each")->required()->check(CLI::ExistingFile);
  return [=]() {
    pipeline::Detector det(*run, *weights, pipeline::parse_device(*device));
    const int S = int(det.image_size()), side = *cell > 0 ? *cell : S;
    // fixed colour ranges, so rows compare: S_ref is a probability; S_rec and the fused map
    // share infer's range
    const double hi = map_colour_top(det);
    const auto how = cls->empty() ? pipeline::PromptSelection::Cosine : pipeline::PromptSelection::KnownClass;
    std::vector<io::Image> rows;
    for (const std::string& path : *images) {
      const io::Image original = io::load_image(path, 3);
      io::Image im = data::resize_image(original, S, S);
      pipeline::Score s = det.score(im, how, *cls);
      ONENIP_CHECK(s.ref.defined() || std::find(columns->begin(), columns->end(), "ref") == columns->end(),
                   "explain: run '", *run, "' has no refiner (trained with --no-refiner), so no S_ref column");
      io::Image heat = data::colorize(s.map, 0.0, hi);
      std::map<std::string, io::Image> panel = {
          {"image", im}, {"rec", data::colorize(s.rec, 0.0, hi)}, {"map", heat}, {"overlay", data::overlay(im, heat)}};
      io::Image mask = ground_truth(path, original, S);
      panel["mask"] = mask.empty() ? io::Image(S, S, 1) : mask;
      if (s.ref.defined()) panel["ref"] = data::colorize(s.ref, 0.0, 1.0);
      std::vector<io::Image> row;
      for (const auto& c : *columns)
        row.push_back(side == S ? panel[c]
                      : c == "mask" ? data::resize_mask(panel[c], side, side)
                                    : data::resize_image(panel[c], side, side));
      rows.push_back(data::hconcat(row, 4));
      std::printf("%s\n", nlohmann::json({{"image", path}, {"class", s.cls}, {"score", s.image_score},
                                          {"mask", !mask.empty()}}).dump().c_str());
    }
    io::save_png(*out, stack_rows(rows, 4));
    std::fprintf(stderr, "wrote %s: %zu row(s) of %s; S_rec, map: 0 to %.4g, S_ref: 0 to 1 (jet)\n", out->c_str(),
                 rows.size(), CLI::detail::join(*columns, " | ").c_str(), hi);
    return 0;
  };
}

}  // namespace onenip::cli
