/// \file
/// The reference's meta files: train.json and test.json, JSON Lines, one object per image:
///   {"filename": "bottle/test/broken_large/000.png", "label": 1, "label_name": "defective",
///    "maskname": "bottle/ground_truth/broken_large/000_mask.png", "clsname": "bottle"}
/// Paths are relative to an image folder. A defective image without "maskname" counts as
/// defective everywhere (all-255 mask), as in the reference; duplicate lines are kept.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>

#include "common.hpp"

namespace onenip::data::layouts {

/// Reads one meta file into `classes` (train or test side).
inline void read_jsonl(const fs::path& file, const fs::path& image_dir, bool train,
                       std::map<std::string, ClassData>& classes) {
  std::ifstream f(file);
  ONENIP_CHECK(f.good(), "dataset: cannot read meta file '", file.string(), "'");
  std::string line;
  for (size_t lineno = 1; std::getline(f, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = [&] { return "dataset: meta file '" + file.string() + "' line " + std::to_string(lineno); };
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      onenip::detail::fail(where(), " is not valid JSON: ", e.what());
    }
    ONENIP_CHECK(j.is_object() && j.contains("filename") && j["filename"].is_string() && j.contains("clsname") &&
                     j["clsname"].is_string() && j.contains("label") && j["label"].is_number_integer(),
                 where(), " needs \"filename\" (string), \"label\" (0 or 1) and \"clsname\" (string)");
    int label = j["label"].get<int>();
    ONENIP_CHECK(label == 0 || label == 1, where(), ": label is ", label, ", not 0 or 1");
    Sample s;
    s.image = (image_dir / j["filename"].get<std::string>()).string();
    s.label = label;
    s.cls = j["clsname"].get<std::string>();
    s.defect = label ? tidy(fs::path(s.image)).parent_path().filename().string() : "good";
    ONENIP_CHECK(is_file(s.image), where(), ": image '", s.image, "' does not exist ",
                 "(filenames are relative to the image folder '", image_dir.string(), "')");
    if (j.contains("maskname") && j["maskname"].is_string() && !j["maskname"].get<std::string>().empty()) {
      s.mask = (image_dir / j["maskname"].get<std::string>()).string();
      ONENIP_CHECK(is_file(s.mask), where(), ": mask '", s.mask, "' does not exist");
    }
    ClassData& cd = classes[s.cls];
    cd.name = s.cls, cd.root = (image_dir / s.cls).string(), cd.layout = "jsonl";
    (train ? cd.train : cd.test).push_back(std::move(s));
  }
}

/// Both meta files; image_dir defaults to the folder that holds them.
inline std::vector<ClassData> load_jsonl(const fs::path& train_json, const fs::path& test_json,
                                         fs::path image_dir = {}) {
  if (image_dir.empty()) image_dir = tidy(train_json).parent_path();
  std::map<std::string, ClassData> classes;
  read_jsonl(train_json, image_dir, true, classes);
  read_jsonl(test_json, image_dir, false, classes);
  ONENIP_CHECK(!classes.empty(), "dataset: meta files '", train_json.string(), "' and '", test_json.string(),
               "' list no images");
  return sorted_classes(classes);
}

}  // namespace onenip::data::layouts
