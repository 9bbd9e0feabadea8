#include "commands.hpp"
#include "workflow.hpp"

namespace onenip::cli {

Action add_synth(CLI::App& app) {
  auto data = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>("synthesis.png"), textures = std::make_shared<std::string>();
  auto count = std::make_shared<int>(8), size = std::make_shared<int>(224);
  auto seed = std::make_shared<uint64_t>(133);
  app.add_option("--data", *data, "class folders or roots holding class folders")->required();
  app.add_option("--out", *out, "PNG to write")->capture_default_str();
  app.add_option("--count", *count, "examples (rows)")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--size", *size, "side of each square image")->capture_default_str()->check(CLI::Range(16, 4096));
  app.add_option("--textures", *textures, "texture folder for the Perlin paste");
  app.add_option("--seed", *seed)->capture_default_str();
  return [=]() {
    auto classes = data::discover_datasets(*data, {});
    data::TextureSource tex(*textures);
    Generator g(*seed);
    std::vector<io::Image> rows;
    for (int i = 0; i < *count; ++i) {
      const auto& cls = classes[size_t(i) % classes.size()];
      const auto& s = cls.train[size_t(g.randint(0, int64_t(cls.train.size())))];
      io::Image im = data::resize_image(io::load_image(s.image, 3), *size, *size);
      auto syn = data::synthesize_anomaly(im, tex, g);
      rows.push_back(data::hconcat({im, syn.image, io::convert_channels(syn.mask, 3)}, 4));
      std::fprintf(stderr, "row %d: %s %s\n", i, cls.name.c_str(), syn.kind.c_str());
    }
    io::save_png(*out, stack_rows(rows, 4));
    std::printf("wrote %s (columns: image, synthetic anomaly, mask)\n", out->c_str());
    return 0;
  };
}

}  // namespace onenip::cli
