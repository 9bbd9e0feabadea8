/// \file
/// Helpers shared by the dataset layouts: which files are images, sorted listings, tidy paths.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "../sample.hpp"

namespace onenip::data::layouts {

namespace fs = std::filesystem;

inline std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// PNG, JPEG or BMP by extension (any case); hidden files are not images.
inline bool is_image_file(const fs::path& p) {
  std::string ext = lower(p.extension().string()), name = p.filename().string();
  return !name.empty() && name[0] != '.' && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp");
}

/// Image files directly in `dir`, sorted by name.
inline std::vector<fs::path> list_images(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_image_file(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Sub-folders of `dir` (hidden ones skipped), sorted by name.
inline std::vector<fs::path> list_dirs(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

/// Whether p names a regular file. A path the system cannot look up (too long, a loop of links)
/// is none, rather than std::filesystem's exception: meta files name paths from untrusted text.
inline bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

/// "data/bottle/" -> "data/bottle", so filename() is the folder's name.
inline fs::path tidy(const fs::path& p) {
  fs::path q = p.lexically_normal();
  if (q.filename().empty() && q.has_parent_path()) q = q.parent_path();
  return q;
}

/// The folder's own name, even for "." or "..".
inline std::string folder_name(const fs::path& dir) {
  fs::path t = tidy(dir);
  std::string n = t.filename().string();
  return (n.empty() || n == "." || n == "..") ? tidy(fs::absolute(t)).filename().string() : n;
}

inline void sort_samples(std::vector<Sample>& v) {
  std::stable_sort(v.begin(), v.end(), [](const Sample& a, const Sample& b) { return a.image < b.image; });
}

/// Classes collected by name -> a list sorted by name, samples sorted by path.
inline std::vector<ClassData> sorted_classes(std::map<std::string, ClassData>& classes) {
  std::vector<ClassData> out;
  for (auto& [name, cd] : classes) {
    sort_samples(cd.train);
    sort_samples(cd.test);
    out.push_back(std::move(cd));
  }
  return out;
}

}  // namespace onenip::data::layouts
