// Dataset discovery on small trees made here (MVTec AD, BTAD, VisA, JSON meta) and on the
// real data in ../shared/data when present.
#include <onenip/data/dataset.hpp>

#include "helpers.hpp"
#include "file_helpers.hpp"

using namespace onenip;
using data::ClassData;
using data::discover_datasets;
using data::Image;
using testing::TempDir;

namespace {

// A tiny 4x4 image file; the format follows the extension (PNG, JPEG or BMP).
void put_image(const TempDir& tmp, const std::string& rel, uint8_t value = 128, int channels = 3) {
  auto p = tmp.path() / rel;
  std::filesystem::create_directories(p.parent_path());
  Image im(4, 4, channels, value);
  std::string ext = p.extension().string();
  if (ext == ".png") {
    io::save_png(p.string(), im);
  } else if (ext == ".JPG" || ext == ".jpg") {
    io::save_jpeg(p.string(), im);
  } else {
    std::vector<uint8_t> bytes;
    REQUIRE(stbi_write_bmp_to_func(onenip::detail::append_bytes, &bytes, 4, 4, channels, im.pixels.data()));
    io::write_file_atomically(p.string(), bytes, "test");
  }
}

void make_mvtec_class(const TempDir& tmp, const std::string& cls) {
  for (auto f : {"train/good/001.png", "train/good/000.png", "test/good/000.png", "test/broken/000.png",
                 "test/broken/001.png", "test/crack/000.png"})
    put_image(tmp, cls + "/" + f);
  for (auto f :
       {"ground_truth/broken/000_mask.png", "ground_truth/broken/001_mask.png", "ground_truth/crack/000_mask.png"})
    put_image(tmp, cls + "/" + f, 255, 1);
  tmp.write(cls + "/license.txt", "not an image");
  tmp.write(cls + "/test/broken/.DS_Store", "hidden");
}

// One line of the reference's JSON meta; mask == nullptr leaves "maskname" out.
std::string meta_line(const std::string& file, int label, const char* mask = nullptr) {
  nlohmann::json j{
      {"filename", file}, {"label", label}, {"label_name", label ? "defective" : "good"}, {"clsname", "bottle"}};
  if (mask) j["maskname"] = mask;
  return j.dump() + "\n";
}

std::string names(const std::vector<ClassData>& cs) {
  std::string s;
  for (auto& c : cs) s += (s.empty() ? "" : ",") + c.name;
  return s;
}

}  // namespace

TEST_CASE("MVTec AD layout: a root of class folders, or class folders themselves") {
  TempDir tmp;
  make_mvtec_class(tmp, "mvtec/zipper");
  make_mvtec_class(tmp, "mvtec/bottle");
  tmp.write("mvtec/readme.txt", "x");
  auto cs = discover_datasets({tmp / "mvtec"});
  REQUIRE(names(cs) == "bottle,zipper");
  const ClassData& b = cs[0];
  CHECK(b.layout == "mvtec");
  REQUIRE(b.train.size() == 2);
  CHECK(b.train[0].image == tmp / "mvtec/bottle/train/good/000.png");
  CHECK(b.train[1].image == tmp / "mvtec/bottle/train/good/001.png");
  CHECK(b.train[0].label == 0);
  CHECK(b.train[0].mask.empty());
  REQUIRE(b.test.size() == 4);
  // sorted by path: broken/000, broken/001, crack/000, good/000
  CHECK(b.test[0].defect == "broken");
  CHECK(b.test[0].label == 1);
  CHECK(b.test[0].mask == tmp / "mvtec/bottle/ground_truth/broken/000_mask.png");
  CHECK(b.test[2].defect == "crack");
  CHECK(b.test[3].defect == "good");
  CHECK(b.test[3].label == 0);
  CHECK(b.test[3].mask.empty());
  for (auto& s : b.test) CHECK(s.cls == "bottle");

  // the same classes named one by one (a trailing slash is fine), in any order
  auto again = discover_datasets({tmp / "mvtec/zipper/", tmp / "mvtec/bottle"});
  CHECK(names(again) == "bottle,zipper");
  CHECK(again[0].test.size() == 4);

  // a missing mask names the image and where it was looked for
  std::filesystem::remove(tmp / "mvtec/bottle/ground_truth/crack/000_mask.png");
  std::string want = "defective test image '" + tmp / "mvtec/bottle/test/crack/000.png" + "' has no mask; looked for " +
                     tmp / "mvtec/bottle/ground_truth/crack/000_mask.png";
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "mvtec/bottle"}), doctest::Contains(want.c_str()), Error);
}

TEST_CASE("BTAD layout: ok/ko folders, BMP images, masks named like the image") {
  TempDir tmp;
  for (auto f : {"01/train/ok/0000.bmp", "01/train/ok/0001.bmp", "01/test/ok/0000.bmp", "01/test/ko/0000.bmp",
                 "02/train/ok/0000.png", "02/test/ko/0000.png"})
    put_image(tmp, std::string("btad/") + f);
  put_image(tmp, "btad/01/ground_truth/ko/0000.png", 255, 1);
  put_image(tmp, "btad/02/ground_truth/ko/0000.png", 255, 1);
  auto cs = discover_datasets({tmp / "btad"});
  REQUIRE(names(cs) == "01,02");
  CHECK(cs[0].layout == "btad");
  CHECK(cs[0].train.size() == 2);
  REQUIRE(cs[0].test.size() == 2);
  CHECK(cs[0].test[0].image == tmp / "btad/01/test/ko/0000.bmp");
  CHECK(cs[0].test[0].mask == tmp / "btad/01/ground_truth/ko/0000.png");
  CHECK(cs[0].test[0].label == 1);
  CHECK(cs[0].test[0].defect == "ko");
  CHECK(cs[0].test[1].label == 0);
  CHECK(cs[0].test[1].defect == "good");
  Image im = io::load_image(cs[0].test[0].image);
  CHECK(im.width == 4);
}

TEST_CASE("VisA layout: split_csv/1cls.csv at the root, or one of its class folders") {
  TempDir tmp;
  for (auto f : {"candle/Data/Images/Normal/0000.JPG", "candle/Data/Images/Normal/0001.JPG",
                 "candle/Data/Images/Normal/0002.JPG", "candle/Data/Images/Anomaly/000.JPG",
                 "pcb1/Data/Images/Normal/0000.JPG", "pcb1/Data/Images/Anomaly/000.JPG"})
    put_image(tmp, std::string("visa/") + f);
  put_image(tmp, "visa/candle/Data/Masks/Anomaly/000.png", 255, 1);
  put_image(tmp, "visa/pcb1/Data/Masks/Anomaly/000.png", 255, 1);
  std::string csv =
      "object,split,label,image,mask\r\n"
      "candle,train,normal,candle/Data/Images/Normal/0001.JPG,\r\n"
      "candle,train,normal,candle/Data/Images/Normal/0000.JPG,\r\n"
      "candle,test,normal,candle/Data/Images/Normal/0002.JPG,\r\n"
      "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\r\n"
      "pcb1,train,normal,pcb1/Data/Images/Normal/0000.JPG,\r\n"
      "pcb1,test,anomaly,\"pcb1/Data/Images/Anomaly/000.JPG\",pcb1/Data/Masks/Anomaly/000.png\r\n";
  tmp.write("visa/split_csv/1cls.csv", csv);
  auto cs = discover_datasets({tmp / "visa"});
  REQUIRE(names(cs) == "candle,pcb1");
  CHECK(cs[0].layout == "visa");
  REQUIRE(cs[0].train.size() == 2);
  CHECK(cs[0].train[0].image == tmp / "visa/candle/Data/Images/Normal/0000.JPG");
  REQUIRE(cs[0].test.size() == 2);
  CHECK(cs[0].test[0].label == 1);
  CHECK(cs[0].test[0].defect == "anomaly");
  CHECK(cs[0].test[0].mask == tmp / "visa/candle/Data/Masks/Anomaly/000.png");
  CHECK(cs[0].test[1].defect == "good");
  CHECK(cs[1].test[0].image == tmp / "visa/pcb1/Data/Images/Anomaly/000.JPG");  // quoted field

  auto one = discover_datasets({tmp / "visa/pcb1"});
  REQUIRE(names(one) == "pcb1");
  CHECK(one[0].train.size() == 1);

  tmp.write("visa/split_csv/1cls.csv", csv + "pcb1,test,anomaly,pcb1/Data/Images/Normal/0000.JPG,\n");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "visa"}), doctest::Contains("1cls.csv' line 8: anomalous image"),
                       Error);
  tmp.write("visa/split_csv/1cls.csv", csv + "pcb1,test,broken,pcb1/Data/Images/Normal/0000.JPG,\n");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "visa"}), doctest::Contains("label is 'broken'"), Error);
  tmp.write("visa/split_csv/1cls.csv", "object,split,image,mask\n");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "visa"}), doctest::Contains("has no column 'label'"), Error);
  tmp.write("visa/split_csv/1cls.csv", csv + "pcb1,test,normal,pcb1/nope.JPG,\n");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "visa"}), doctest::Contains("pcb1/nope.JPG' does not exist"), Error);
}

TEST_CASE("JSON-lines meta: train.json + test.json, paths relative to an image folder") {
  TempDir tmp;
  for (auto f : {"bottle/train/good/000.png", "bottle/train/good/001.png", "bottle/test/good/000.png",
                 "bottle/test/broken/000.png", "bottle/test/broken/001.png"})
    put_image(tmp, std::string("imgs/") + f);
  put_image(tmp, "imgs/bottle/ground_truth/broken/000_mask.png", 255, 1);
  std::string train = meta_line("bottle/train/good/001.png", 0) + meta_line("bottle/train/good/000.png", 0) +
                      meta_line("bottle/train/good/000.png", 0);
  std::string test = meta_line("bottle/test/good/000.png", 0, "") + "\n" +
                     meta_line("bottle/test/broken/000.png", 1, "bottle/ground_truth/broken/000_mask.png") +
                     meta_line("bottle/test/broken/001.png", 1);
  // meta beside the images: the image folder is the meta folder
  tmp.write("imgs/train.json", train);
  tmp.write("imgs/test.json", test);
  auto cs = discover_datasets({tmp / "imgs"});
  REQUIRE(names(cs) == "bottle");
  CHECK(cs[0].layout == "jsonl");
  REQUIRE(cs[0].train.size() == 3);  // duplicates kept, as the reference trains on them
  CHECK(cs[0].train[0].image == tmp / "imgs/bottle/train/good/000.png");
  CHECK(cs[0].train[2].image == tmp / "imgs/bottle/train/good/001.png");
  REQUIRE(cs[0].test.size() == 3);
  CHECK(cs[0].test[0].defect == "broken");
  CHECK(cs[0].test[0].mask == tmp / "imgs/bottle/ground_truth/broken/000_mask.png");
  const data::Sample& whole = cs[0].test[1];  // defective without maskname: the whole image
  CHECK(whole.label == 1);
  CHECK(whole.mask.empty());
  Image m = data::load_mask(whole, 4, 3);
  CHECK(m.pixels == std::vector<uint8_t>(12, 255));
  CHECK(data::load_mask(cs[0].test[2], 4, 3).pixels == std::vector<uint8_t>(12, 0));
  CHECK(data::load_mask(cs[0].test[0], 4, 4).pixels == std::vector<uint8_t>(16, 255));  // a mask file, as it is

  // meta elsewhere, with an explicit image folder
  tmp.write("meta/train.json", train);
  tmp.write("meta/test.json", test);
  auto again = discover_datasets({tmp / "meta"}, {tmp / "imgs"});
  CHECK(again[0].test.size() == 3);
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "meta"}), doctest::Contains("relative to the image folder"), Error);

  tmp.write("meta/test.json", test + "{\"filename\": 3}\n");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "meta"}, {tmp / "imgs"}),
                       doctest::Contains("test.json' line 5 needs \"filename\""), Error);
  tmp.write("meta/test.json", "{not json\n");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "meta"}, {tmp / "imgs"}), doctest::Contains("line 1 is not valid JSON"),
                       Error);
  std::filesystem::remove(tmp / "meta/test.json");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "meta"}), doctest::Contains("has train.json but no test.json"), Error);
}

TEST_CASE("discovery errors say what was wrong and what was looked for") {
  TempDir tmp;
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "absent"}), doctest::Contains("absent' does not exist"), Error);
  std::string file = tmp.write("a.txt", "x");
  CHECK_THROWS_WITH_AS(discover_datasets({file}), doctest::Contains("a.txt' is not a folder"), Error);
  std::filesystem::create_directories(tmp / "empty/sub");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "empty"}),
                       doctest::Contains("looked for train/ in it and in its sub-folders"), Error);
  CHECK_THROWS_WITH_AS(discover_datasets({}), doctest::Contains("no data folders"), Error);

  make_mvtec_class(tmp, "a/bottle");
  make_mvtec_class(tmp, "b/bottle");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "a", tmp / "b"}), doctest::Contains("class 'bottle' found twice"),
                       Error);

  // a class folder in a root whose train/ is gone is refused, not skipped
  make_mvtec_class(tmp, "r/bottle");
  make_mvtec_class(tmp, "r/zipper");
  std::filesystem::remove_all(tmp / "r/zipper/train");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "r"}),
                       doctest::Contains(("class folder '" + tmp / "r/zipper" + "' has test/ but no train/").c_str()), Error);

  put_image(tmp, "c/cls/train/defect/000.png");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "c"}), doctest::Contains("train/defect/ is not a normal-image folder"),
                       Error);
  std::filesystem::remove_all(tmp / "c/cls/train/defect");
  std::filesystem::create_directories(tmp / "c/cls/train/good");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "c/cls"}),
                       doctest::Contains("no PNG, JPEG or BMP images in train/good/"), Error);
  put_image(tmp, "c/cls/train/good/000.png");
  put_image(tmp, "c/cls/test/stray.png");
  CHECK_THROWS_WITH_AS(discover_datasets({tmp / "c/cls"}), doctest::Contains("stray.png' lies directly in test/"),
                       Error);
}

TEST_CASE("a mask of another size than its image is refused when loaded, naming both files and sizes") {
  TempDir tmp;
  make_mvtec_class(tmp, "bottle");
  put_image(tmp, "bottle/ground_truth/crack/000_mask.png", 255, 1);  // 4 x 4, as its image: fine
  const data::Sample s = discover_datasets({tmp / "bottle"})[0].test[2];
  REQUIRE(s.defect == "crack");
  CHECK(data::load_mask(s, 4, 4).pixels == std::vector<uint8_t>(16, 255));
  io::save_png(s.mask, Image(8, 6, 1, 255));
  std::string want = "mask '" + s.mask + "' is 8 x 6 but its image '" + s.image + "' is 4 x 4";
  CHECK_THROWS_WITH_AS(data::load_mask(s, 4, 4), doctest::Contains(want.c_str()), Error);
}

TEST_CASE("the real data: MVTec AD bottle and Magnetic Tile") {
  std::string shared = testing::shared_dir();
  if (shared.empty() || !std::filesystem::exists(shared + "/data/mvtec/bottle")) {
    MESSAGE("skipped: ../shared/data is not present beside the project");
    return;
  }
  auto cs = discover_datasets({shared + "/data/mvtec", shared + "/data/magnetic_tile"});
  REQUIRE(names(cs) == "bottle,magnetic_tile");
  const ClassData& bottle = cs[0];
  CHECK(bottle.train.size() == 209);
  CHECK(bottle.test.size() == 83);
  int good = 0, bad = 0;
  for (auto& s : bottle.test) {
    if (s.label) {
      ++bad;
      CHECK(!s.mask.empty());
    } else {
      ++good;
      CHECK(s.defect == "good");
    }
  }
  CHECK(good == 20);
  CHECK(bad == 63);
  const ClassData& tile = cs[1];
  CHECK(tile.train.size() == 762);
  CHECK(tile.test.size() == 582);
  int tile_bad = 0;
  for (auto& s : tile.test) tile_bad += s.label;
  CHECK(tile_bad == 392);  // 115 + 85 + 57 + 32 + 103, the four empty "uneven" masks included

  // a defective sample of each: image and mask load and agree in size
  for (const ClassData* c : {&bottle, &tile}) {
    const data::Sample& s = c->test.front();
    REQUIRE(s.label == 1);
    Image im = io::load_image(s.image), m = data::load_mask(s, im.width, im.height);
    CHECK(im.channels == 3);
    CHECK(m.width == im.width);
    CHECK(m.height == im.height);
    CHECK(std::count_if(m.pixels.begin(), m.pixels.end(), [](uint8_t v) { return v > 0; }) > 0);
  }
}
