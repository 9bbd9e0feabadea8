// Classify images with the pretrained MobileNetV2 (the backbone's own ImageNet head):
//
//   onenip-classify --weights FILE [--labels FILE] [--size 224] [--top 5] [--threads T] IMAGE...
//
// FILE: ../shared/weights/mobilenetv2_100_imagenet.safetensors (timm names, 1001 classes, class
// 0 = background); labels: one class name a line (../shared/weights/imagenet_labels.txt).
// Prints, per image, the top classes as "index  probability  label". Exit status 0 on success,
// 1 on an error (unreadable image or weights: the message names the file), 2 on bad arguments.
#include <onenip/onenip.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

using namespace onenip;

namespace {

const char* kUsage =
    "usage: onenip-classify --weights FILE [--labels FILE] [--size S] [--top K] [--threads T] IMAGE...\n"
    "  --weights FILE  MobileNetV2 ImageNet weights (safetensors, timm names)\n"
    "  --labels FILE   class names, one a line (line 0 = class 0)\n"
    "  --size S        input side, a multiple of 16 (default 224)\n"
    "  --top K         classes to print per image (default 5)\n"
    "  --threads T     CPU threads (default: all)\n";

int usage_error(const std::string& why) {
  std::fprintf(stderr, "onenip-classify: %s\n%s", why.c_str(), kUsage);
  return 2;
}

// A positive integer argument, or -1.
int positive(const char* s) {
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  return (end && *end == '\0' && v > 0 && v < 1 << 20) ? int(v) : -1;
}

std::vector<std::string> read_labels(const std::string& path) {
  std::ifstream f(path);
  ONENIP_CHECK(f.good(), "cannot read the labels file '", path, "'");
  std::vector<std::string> labels;
  for (std::string line; std::getline(f, line);) labels.push_back(line);
  return labels;
}

}  // namespace

int main(int argc, char** argv) {
  std::string weights, labels_path;
  int size = 224, top = 5;
  std::vector<std::string> images;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--weights" || a == "--labels") {
      const char* v = value();
      if (!v) return usage_error(a + " needs a file");
      (a == "--weights" ? weights : labels_path) = v;
    } else if (a == "--size" || a == "--top" || a == "--threads") {
      const char* v = value();
      int n = v ? positive(v) : -1;
      if (n < 0) return usage_error(a + " needs a positive integer");
      if (a == "--size") size = n;
      else if (a == "--top") top = n;
      else set_num_threads(n);
    } else if (a.rfind("--", 0) == 0) {
      return usage_error("unknown option " + a);
    } else {
      images.push_back(a);
    }
  }
  if (weights.empty()) return usage_error("--weights is required");
  if (images.empty()) return usage_error("no images given");
  if (size % 16 != 0) return usage_error("--size must be a multiple of 16");

  try {
    auto net = models::MobileNetV2<float>::from_file(weights);
    std::vector<std::string> labels;
    if (!labels_path.empty()) labels = read_labels(labels_path);
    const int64_t classes = models::MobileNetV2<float>::kClasses;
    top = std::min<int>(top, int(classes));
    for (const auto& path : images) {  // one at a time: a bad file stops at its own name
      Tensor<float> x = data::load_backbone_batch<float>({path}, size, net.normalization());
      Tensor<float> prob = softmax(net.logits(x), 1);
      std::vector<int64_t> order(static_cast<size_t>(classes));
      std::iota(order.begin(), order.end(), int64_t(0));
      const float* p = prob.data();
      std::partial_sort(order.begin(), order.begin() + top, order.end(),
                        [&](int64_t a, int64_t b) { return p[a] > p[b]; });
      std::printf("%s\n", path.c_str());
      for (int k = 0; k < top; ++k) {
        int64_t c = order[size_t(k)];
        std::printf("  %4ld  %.4f  %s\n", long(c), double(p[c]), size_t(c) < labels.size() ? labels[size_t(c)].c_str() : "");
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "onenip-classify: %s\n", e.what());
    return 1;
  }
  return 0;
}
