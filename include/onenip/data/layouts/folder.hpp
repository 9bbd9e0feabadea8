/// \file
/// The MVTec AD / BTAD folder layout of one class:
///   train/good/*           (BTAD: train/ok/*)             normal training images
///   test/good/*            (BTAD: test/ok/*)              normal test images, no mask
///   `test/<defect>/*`      (BTAD: test/ko/*)              defective test images
///   `ground_truth/<defect>/<stem>_mask.png`  (BTAD: `<stem>.png`; .bmp accepted too)
#pragma once

#include "common.hpp"

namespace onenip::data::layouts {

inline bool is_normal_folder(const std::string& name) { return name == "good" || name == "ok"; }

/// The mask of a defective test image, or an error that names the image and what was looked for.
inline fs::path find_mask(const fs::path& root, const std::string& defect, const fs::path& image) {
  const std::string stem = image.stem().string();
  const fs::path dir = root / "ground_truth" / defect;
  std::vector<fs::path> tried;
  for (const char* suffix : {"_mask", ""})
    for (const char* ext : {".png", ".bmp"}) {
      fs::path p = dir / (stem + suffix + ext);
      if (fs::is_regular_file(p)) return p;
      tried.push_back(p);
    }
  std::string list;
  for (const auto& p : tried) list += (list.empty() ? "" : ", ") + p.string();
  onenip::detail::fail("dataset: defective test image '", image.string(), "' has no mask; looked for ", list);
}

inline ClassData load_folder_class(const fs::path& dir) {
  const fs::path root = tidy(dir);
  ClassData cd;
  cd.name = folder_name(root);
  cd.root = root.string();
  cd.layout = "mvtec";
  const std::string where = "dataset: class folder '" + root.string() + "'";

  // train/: only normal images, in good/ or ok/.
  bool any_normal = false;
  for (const fs::path& sub : list_dirs(root / "train")) {
    std::string n = sub.filename().string();
    ONENIP_CHECK(is_normal_folder(n), where, ": train/", n, "/ is not a normal-image folder; ",
                 "train/ may only hold good/ (MVTec AD) or ok/ (BTAD)");
    if (n == "ok") cd.layout = "btad";
    any_normal = true;
    for (const fs::path& img : list_images(sub)) cd.train.push_back({img.string(), "", 0, "good", cd.name});
  }
  ONENIP_CHECK(any_normal, where, ": train/ has neither good/ (MVTec AD) nor ok/ (BTAD)");
  ONENIP_CHECK(!cd.train.empty(), where, ": no PNG, JPEG or BMP images in train/good/ or train/ok/");
  auto loose = list_images(root / "train");
  ONENIP_CHECK(loose.empty(), where, ": image '", loose.empty() ? "" : loose[0].string(),
               "' lies directly in train/; put normal images in train/good/");

  // test/ (optional): one folder per defect type plus good/ or ok/.
  if (fs::is_directory(root / "test")) {
    loose = list_images(root / "test");
    ONENIP_CHECK(loose.empty(), where, ": image '", loose.empty() ? "" : loose[0].string(),
                 "' lies directly in test/; put it in test/good/ or test/<defect>/");
    for (const fs::path& sub : list_dirs(root / "test")) {
      std::string defect = sub.filename().string();
      bool normal = is_normal_folder(defect);
      for (const fs::path& img : list_images(sub)) {
        if (normal)
          cd.test.push_back({img.string(), "", 0, "good", cd.name});
        else
          cd.test.push_back({img.string(), find_mask(root, defect, img).string(), 1, defect, cd.name});
      }
    }
  }
  sort_samples(cd.train);
  sort_samples(cd.test);
  return cd;
}

}  // namespace onenip::data::layouts
