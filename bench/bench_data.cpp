// The input pipeline per image: decode, PIL-style resize, normalise to a tensor.
//   ./build/bench/bench_data --benchmark_min_time=0.2
#include <filesystem>
#include <onenip/data/transforms.hpp>

#include "bench_common.hpp"

using namespace onenip;
using data::Image;

namespace {

// A photo-like RGB image: smooth gradients plus texture, so PNG/JPEG sizes are realistic.
Image test_image(int side, int channels) {
  Image im(side, side, channels);
  uint32_t s = 12345;
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < channels; ++c) {
        s = s * 1664525u + 1013904223u;
        im.at(y, x, c) = uint8_t((x + 2 * y + 60 * c) / 4 % 256 / 2 + (s >> 27));
      }
  return im;
}

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("onenip_bench_" + name)).string();
}

// args: input side, output side, channels
void BM_ResizeBilinear(benchmark::State& state) {
  Image im = test_image(int(state.range(0)), int(state.range(2)));
  int out = int(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(data::resize_image(im, out, out).pixels.data());
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * int64_t(im.pixels.size()));
}
BENCHMARK(BM_ResizeBilinear)
    ->Args({900, 224, 3})
    ->Args({320, 224, 3})
    ->Args({320, 320, 3})
    ->Args({600, 256, 1})
    ->Args({224, 320, 3})
    ->Unit(benchmark::kMillisecond);

void BM_ResizeNearest(benchmark::State& state) {
  Image im = test_image(int(state.range(0)), 1);
  int out = int(state.range(1));
  for (auto _ : state) benchmark::DoNotOptimize(data::resize_mask(im, out, out).pixels.data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ResizeNearest)->Args({900, 224})->Args({320, 224})->Unit(benchmark::kMillisecond);

// arg: 0 = PNG, 1 = JPEG (quality 95); 320 x 320 RGB
void BM_Decode(benchmark::State& state) {
  Image im = test_image(320, 3);
  std::string path = temp_file(state.range(0) ? "decode.jpg" : "decode.png");
  state.range(0) ? io::save_jpeg(path, im, 95) : io::save_png(path, im);
  for (auto _ : state) benchmark::DoNotOptimize(io::load_image(path).pixels.data());
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) ? "jpeg" : "png");
  std::filesystem::remove(path);
}
BENCHMARK(BM_Decode)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_EncodePNG(benchmark::State& state) {
  Image im = test_image(224, 3);
  std::string path = temp_file("encode.png");
  for (auto _ : state) io::save_png(path, im);
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove(path);
}
BENCHMARK(BM_EncodePNG)->Unit(benchmark::kMillisecond);

// resize 320 -> 224 + ImageNet normalisation into a float [3, 224, 224] tensor
void BM_PrepareImage(benchmark::State& state) {
  Image im = test_image(320, 3);
  for (auto _ : state)
    benchmark::DoNotOptimize(data::prepare_image<float>(im, 224, data::Normalization::imagenet()).data());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrepareImage)->Unit(benchmark::kMillisecond);

}  // namespace
