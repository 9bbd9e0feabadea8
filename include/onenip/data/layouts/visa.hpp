/// \file
/// VisA: a root holding split_csv/1cls.csv with the columns object,split,label,image,mask
/// (split train/test, label normal/anomaly, paths relative to the root), for example:
///   candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png
#pragma once

#include <fstream>

#include "common.hpp"

namespace onenip::data::layouts {

/// One CSV record: comma-separated, double quotes around fields that hold commas or quotes.
inline std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"')
      out.back() += '"', ++i;
    else if (c == '"')
      quoted = !quoted;
    else if (c == ',' && !quoted)
      out.emplace_back();
    else if (c != '\r')
      out.back() += c;
  }
  return out;
}

inline fs::path visa_csv(const fs::path& root) { return root / "split_csv" / "1cls.csv"; }

/// Every class of the VisA root, or only `only` when given.
inline std::vector<ClassData> load_visa(const fs::path& root_in, const std::string& only = "") {
  const fs::path root = tidy(root_in), csv = visa_csv(root);
  std::ifstream f(csv);
  ONENIP_CHECK(f.good(), "dataset: cannot read VisA split file '", csv.string(), "'");
  std::string line;
  ONENIP_CHECK(bool(std::getline(f, line)), "dataset: VisA split file '", csv.string(), "' is empty");
  std::map<std::string, size_t> col;
  auto header = split_csv_line(line);
  for (size_t i = 0; i < header.size(); ++i) col[lower(header[i])] = i;
  for (const char* need : {"object", "split", "label", "image", "mask"})
    ONENIP_CHECK(col.count(need), "dataset: VisA split file '", csv.string(), "' has no column '", need,
                 "' (header: ", line, "; expected object,split,label,image,mask)");

  std::map<std::string, ClassData> classes;
  for (size_t lineno = 2; std::getline(f, line); ++lineno) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto v = split_csv_line(line);
    auto where = [&] { return "dataset: VisA split file '" + csv.string() + "' line " + std::to_string(lineno); };
    ONENIP_CHECK(v.size() == header.size(), where(), " has ", v.size(), " fields, the header ", header.size());
    const std::string& obj = v[col["object"]];
    if (!only.empty() && obj != only) continue;
    std::string split = lower(v[col["split"]]), label = lower(v[col["label"]]);
    ONENIP_CHECK(split == "train" || split == "test", where(), ": split is '", v[col["split"]], "', not train or test");
    ONENIP_CHECK(label == "normal" || label == "anomaly", where(), ": label is '", v[col["label"]],
                 "', not normal or anomaly");
    Sample s{(root / v[col["image"]]).string(), "", label == "anomaly", label == "anomaly" ? "anomaly" : "good", obj};
    ONENIP_CHECK(is_file(s.image), where(), ": image '", s.image, "' does not exist");
    if (s.label) {
      ONENIP_CHECK(!v[col["mask"]].empty(), where(), ": anomalous image '", s.image, "' has no mask");
      s.mask = (root / v[col["mask"]]).string();
      ONENIP_CHECK(is_file(s.mask), where(), ": mask '", s.mask, "' does not exist");
    }
    ClassData& cd = classes[obj];
    cd.name = obj, cd.root = (root / obj).string(), cd.layout = "visa";
    (split == "train" ? cd.train : cd.test).push_back(std::move(s));
  }
  ONENIP_CHECK(!classes.empty(), "dataset: VisA split file '", csv.string(), "' lists no images",
               only.empty() ? "" : " of class '" + only + "'");
  return sorted_classes(classes);
}

}  // namespace onenip::data::layouts
