/// \file
/// Dataset discovery (`--data`): each path is a class folder or a root that holds class folders.
///   a folder with train/                      one class, MVTec AD or BTAD layout (layouts/folder.hpp)
///   a folder with split_csv/1cls.csv          a VisA root: its classes (layouts/visa.hpp)
///   a folder with train.json and test.json    the reference's JSON-lines meta (layouts/jsonl.hpp)
///   a class folder inside a VisA root         that VisA class
///   any other folder                          its sub-folders that are classes (one level down)
/// The result is sorted by class name, samples by path; a class name found twice is an error.
#pragma once

#include "layouts/folder.hpp"
#include "layouts/jsonl.hpp"
#include "layouts/visa.hpp"

namespace onenip::data {

struct DiscoverOptions {
  /// Folder that JSON meta filenames are relative to (default: the folder holding the meta files).
  std::string image_dir;
};

}  // namespace onenip::data

namespace onenip::detail {

inline bool is_class_folder(const std::filesystem::path& p) { return std::filesystem::is_directory(p / "train"); }

// The classes one --data path stands for.
inline std::vector<data::ClassData> discover_one(const std::filesystem::path& path, const data::DiscoverOptions& opt) {
  namespace fs = std::filesystem;
  using namespace data::layouts;
  using data::ClassData;
  const fs::path p = tidy(path);
  ONENIP_CHECK(fs::exists(p), "dataset: '", path.string(), "' does not exist");
  ONENIP_CHECK(fs::is_directory(p), "dataset: '", path.string(), "' is not a folder ",
               "(give a class folder or a folder that holds class folders)");
  if (is_class_folder(p)) return {load_folder_class(p)};
  if (fs::exists(visa_csv(p))) return load_visa(p);
  bool tr = fs::exists(p / "train.json"), te = fs::exists(p / "test.json");
  if (tr || te) {
    ONENIP_CHECK(tr && te, "dataset: '", p.string(), "' has ", tr ? "train.json" : "test.json", " but no ",
                 tr ? "test.json" : "train.json", "; JSON meta needs both");
    return load_jsonl(p / "train.json", p / "test.json", opt.image_dir);
  }
  const fs::path parent = tidy(fs::absolute(p)).parent_path();
  if (fs::exists(visa_csv(parent))) return load_visa(parent, folder_name(p));
  std::vector<ClassData> out;
  for (const fs::path& sub : list_dirs(p)) {
    if (is_class_folder(sub)) {
      out.push_back(load_folder_class(sub));
      continue;
    }
    // a class folder whose train/ is missing (a copy cut short?) is not skipped as not a class
    for (const char* part : {"test", "ground_truth"})
      ONENIP_CHECK(!fs::exists(sub / part), "dataset: class folder '", sub.string(), "' has ", part,
                   "/ but no train/ (its normal training images, in train/good/ or train/ok/)");
  }
  ONENIP_CHECK(!out.empty(), "dataset: no classes in '", p.string(), "': looked for train/ in it and in its ",
               "sub-folders (MVTec AD / BTAD class folders), split_csv/1cls.csv (VisA) and ",
               "train.json + test.json (JSON-lines meta)");
  return out;
}

}  // namespace onenip::detail

namespace onenip::data {

/// All classes of all paths, sorted by name.
inline std::vector<ClassData> discover_datasets(const std::vector<std::string>& paths,
                                                const DiscoverOptions& opt = {}) {
  ONENIP_CHECK(!paths.empty(), "dataset: no data folders given");
  std::vector<ClassData> all;
  for (const std::string& p : paths)
    for (ClassData& cd : detail::discover_one(p, opt)) {
      ONENIP_CHECK(!cd.train.empty(), "dataset: class '", cd.name, "' in '", cd.root, "' has no training images ",
                   "(they are the normal references and the prompts)");
      for (const ClassData& seen : all)
        ONENIP_CHECK(seen.name != cd.name, "dataset: class '", cd.name, "' found twice: in '", seen.root, "' and in '",
                     cd.root, "'; class names must be unique");
      all.push_back(std::move(cd));
    }
  std::sort(all.begin(), all.end(), [](const ClassData& a, const ClassData& b) { return a.name < b.name; });
  return all;
}

}  // namespace onenip::data
