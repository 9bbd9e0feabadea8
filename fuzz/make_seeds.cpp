// Writes the fuzzers' seed corpora: small valid inputs for every target, made by the library's
// own writers, so fuzzing starts from inputs each reader accepts.
//   make_seeds OUT_DIR   ->  OUT_DIR/<target>/<seed>
#include <onenip/io/image.hpp>
#include <onenip/pipeline/config.hpp>

#include "checkpoint_net.hpp"

namespace fs = std::filesystem;
using namespace onenip;

namespace {
void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

void safetensors_seeds(const fs::path& dir) {
  Generator g(7);
  std::vector<std::pair<std::string, TensorF>> ts = {{"a", randn<float>({2, 3}, 0.0f, 1.0f, g)},
                                                     {"b", randn<float>({4}, 0.0f, 1.0f, g)},
                                                     {"scalar", ones<float>({})},
                                                     {"empty", zeros<float>({0, 5})}};
  for (io::DType d : {io::DType::F32, io::DType::F64, io::DType::F16, io::DType::BF16})
    io::save_safetensors((dir / (std::string("seed_") + io::dtype_name(d))).string(), ts, {{"format", "pt"}}, d);
}

void checkpoint_seeds(const fs::path& dir) {
  fuzz::CheckpointRun run;
  run.net.weight.set_grad(ones<float>({3, 2}));  // one optimiser step, so its slots hold tensors
  run.net.bias.set_grad(ones<float>({3}));
  run.opt.step();
  run.sched.step(1);
  io::TrainingState<float> s = run.state();
  s.epoch = 1, s.global_step = 4, s.config = {{"lr", 1e-3}};
  io::save_checkpoint((dir / "seed_full").string(), s);
  s.optimizer = nullptr, s.schedule = nullptr, s.generators.clear();
  io::save_checkpoint((dir / "seed_model_only").string(), s);
}

void image_seeds(const fs::path& dir) {
  io::Image rgb(5, 3, 3), grey(4, 2, 1);
  for (size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] = uint8_t(i * 37);
  for (size_t i = 0; i < grey.pixels.size(); ++i) grey.pixels[i] = uint8_t(i * 53);
  io::save_png((dir / "seed_rgb.png").string(), rgb);
  io::save_png((dir / "seed_grey.png").string(), grey);
  io::save_jpeg((dir / "seed_rgb.jpg").string(), rgb, 90);
  io::save_jpeg((dir / "seed_grey.jpg").string(), grey, 90);
  std::vector<uint8_t> bmp;
  stbi_write_bmp_to_func(onenip::detail::append_bytes, &bmp, rgb.width, rgb.height, 3, rgb.pixels.data());
  write_text(dir / "seed_rgb.bmp", std::string(bmp.begin(), bmp.end()));
  for (const char* f : {"img_synth_grey.png", "img_synth_rgb.jpg", "img_bottle_mask_crop.png"})
    fs::copy_file(fs::path(ONENIP_SOURCE_DIR) / "tests/fixtures" / f, dir / f, fs::copy_options::overwrite_existing);
}

void dataset_seeds(const fs::path& dir) {
  // jsonl: the train file, a form feed, the test file (fuzz/fuzz_jsonl.cpp).
  write_text(dir / "jsonl/seed",
             "{\"filename\": \"bottle/train/good/000.png\", \"label\": 0, \"label_name\": \"good\", \"clsname\": \"bottle\"}\n"
             "\f"
             "{\"filename\": \"bottle/test/crack/000.png\", \"label\": 1, \"label_name\": \"defective\", "
             "\"maskname\": \"bottle/ground_truth/crack/000_mask.png\", \"clsname\": \"bottle\"}\n"
             "{\"filename\": \"bottle/train/good/000.png\", \"label\": 0, \"clsname\": \"bottle\"}\n");
  write_text(dir / "visa/seed",
             "object,split,label,image,mask\r\n"
             "candle,train,normal,candle/Data/Images/Normal/000.JPG,\r\n"
             "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\r\n"
             "\"candle\",\"test\",\"normal\",\"candle/Data/Images/Normal/000.JPG\",\"\"\n");
}

void config_seeds(const fs::path& dir) {
  write_text(dir / "seed_defaults", pipeline::TrainConfig{}.to_json().dump(1));
  write_text(dir / "seed_small",
             R"({"data": ["x"], "epochs": 2, "lr": 0.001, "model": {"hidden": 64, "decoder": "static", "dice": "paper"}, "device": "cpu"})");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* t : {"safetensors", "checkpoint", "image", "jsonl", "visa", "config"}) fs::create_directories(out / t);
  safetensors_seeds(out / "safetensors");
  checkpoint_seeds(out / "checkpoint");
  image_seeds(out / "image");
  dataset_seeds(out);
  config_seeds(out / "config");
  return 0;
}
