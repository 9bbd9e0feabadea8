// safetensors: round trips in F32/F64/F16/BF16 against torch's rounding
// (tests/fixtures/export_nn_io_fixtures.py), metadata, every malformed file, atomic writes,
// and the real MobileNetV2 weights in ../shared.
#include <cmath>

#include "file_helpers.hpp"
#include "helpers.hpp"

using namespace onenip;
using testing::check_close;

namespace {
uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
// Same float bit patterns (so -0 != 0, and inf checked exactly).
void check_bits(const TensorF& got, const TensorF& want) {
  REQUIRE(got.shape() == want.shape());
  for (int64_t i = 0; i < got.numel(); ++i) {
    INFO("element ", i, ": got ", got.data()[i], ", want ", want.data()[i]);
    CHECK(bits(got.data()[i]) == bits(want.data()[i]));
  }
}

// A safetensors file from a header string and raw data; `len` overrides the header length.
std::string raw_file(const std::string& header, const std::string& data, int64_t len = -1) {
  uint64_t n = len < 0 ? header.size() : uint64_t(len);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// Opening `bytes` as a file fails with a message naming the file and containing `problem`.
void check_rejected(const testing::TempDir& dir, const std::string& name, const std::string& bytes, const std::string& problem) {
  std::string path = dir.file(name);
  testing::write_bytes(path, bytes);
  INFO("case ", name);
  try {
    io::SafeTensorsFile f(path);
    FAIL("opened without an error");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO("message: ", msg);
    CHECK(msg.find("'" + path + "'") != std::string::npos);
    CHECK(msg.find(problem) != std::string::npos);
  }
}
}  // namespace

TEST_CASE("F16 and BF16 conversions round like torch, both ways") {
  auto& f = testing::fixture("nn_io_fixtures.safetensors");
  TensorF x = f.get<float>("f16.x"), want_h = f.get<float>("f16.half_as_f32"), want_b = f.get<float>("f16.bf16_as_f32");
  // torch's F16/BF16 bytes decode to torch's floats
  check_bits(f.get<float>("f16.half"), want_h);
  check_bits(f.get<float>("f16.bf16"), want_b);
  CHECK(f.info("f16.half").dtype == io::DType::F16);
  CHECK(f.info("f16.bf16").dtype == io::DType::BF16);
  // our encoders round as torch does
  TensorF h = TensorF::empty(x.shape()), b = TensorF::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    h.data()[i] = io::half_to_float(io::float_to_half(x.data()[i]));
    b.data()[i] = io::bf16_to_float(io::float_to_bf16(x.data()[i]));
  }
  check_bits(h, want_h);
  check_bits(b, want_b);
  CHECK(std::isnan(io::half_to_float(io::float_to_half(std::nanf("")))));
  CHECK(std::isnan(io::bf16_to_float(io::float_to_bf16(std::nanf("")))));
}

TEST_CASE("round trips in F32, F64, F16 and BF16, read as float and double") {
  testing::TempDir dir;
  auto& f = testing::fixture("nn_io_fixtures.safetensors");
  TensorF x = f.get<float>("f16.x");
  TensorD xd = randn<double>({3, 4});
  TensorF t = randn<float>({4, 3}).transpose(0, 1);  // written from a non-contiguous view
  const std::string p = dir.file("rt.safetensors");

  io::save_safetensors<float>(p, {{"x", x}, {"t", t}, {"s", scalar_tensor(2.5f)}, {"e", zeros<float>({0, 3})}});
  io::SafeTensorsFile f32(p);
  check_bits(f32.get<float>("x"), x);
  check_close(f32.get<float>("t"), t, 0, 0);
  CHECK(f32.get<float>("s").item() == 2.5f);
  CHECK(f32.get<float>("s").dim() == 0);
  CHECK(f32.get<float>("e").shape() == Shape{0, 3});
  check_close(f32.get<double>("t"), cast<double>(t), 0, 0);

  io::save_safetensors<double>(p, {{"xd", xd}});
  io::SafeTensorsFile f64(p);
  CHECK(f64.info("xd").dtype == io::DType::F64);
  check_close(f64.get<double>("xd"), xd, 0, 0);
  check_close(f64.get<float>("xd"), cast<float>(xd), 0, 0);

  io::save_safetensors<float>(p, {{"x", x}}, {}, io::DType::F16);
  check_bits(io::SafeTensorsFile(p).get<float>("x"), f.get<float>("f16.half_as_f32"));
  io::save_safetensors<float>(p, {{"x", x}}, {}, io::DType::BF16);
  check_bits(io::SafeTensorsFile(p).get<float>("x"), f.get<float>("f16.bf16_as_f32"));
  CHECK(io::SafeTensorsFile(p).info("x").dtype == io::DType::BF16);
}

TEST_CASE("metadata is kept, tensors keep the writer's order, the data section is 8-byte aligned") {
  testing::TempDir dir;
  const std::string p = dir.file("md.safetensors");
  io::save_safetensors<float>(p, {{"zeta", ones<float>({2})}, {"alpha", ones<float>({3})}},
                              {{"arch", "tiny"}, {"config", R"({"a": 1})"}});
  io::SafeTensorsFile f(p);
  CHECK(f.metadata() == io::Metadata{{"arch", "tiny"}, {"config", R"({"a": 1})"}});
  REQUIRE(f.tensors().size() == 2);
  CHECK(f.tensors()[0].name == "zeta");
  CHECK(f.tensors()[1].name == "alpha");
  std::string bytes = testing::read_bytes(p);
  CHECK(bytes.substr(8, 16) == R"({"__metadata__":)");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = hlen << 8 | uint8_t(bytes[size_t(i)]);
  CHECK((8 + hlen) % 8 == 0);
  CHECK(bytes.size() == 8 + hlen + 5 * 4);
  // a file written by the safetensors package (PyTorch export) keeps its metadata too
  CHECK(io::SafeTensorsFile(testing::fixture_path("torch_mlp.safetensors")).metadata().at("source") == "torch");
}

TEST_CASE("integer dtypes of PyTorch state dicts read as values") {
  testing::TempDir dir;
  std::string data(8 + 4 + 2, '\0');
  int64_t a = -7;
  int32_t b = 123456;
  std::memcpy(&data[0], &a, 8);
  std::memcpy(&data[8], &b, 4);
  data[12] = 1;  // BOOL true
  data[13] = char(200);  // U8
  const std::string h = R"({"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]},)"
                        R"("c":{"dtype":"BOOL","shape":[1],"data_offsets":[12,13]},"d":{"dtype":"U8","shape":[1],"data_offsets":[13,14]}})";
  testing::write_bytes(dir.file("i.safetensors"), raw_file(h, data));
  io::SafeTensorsFile f(dir.file("i.safetensors"));
  CHECK(f.get<float>("a").item() == -7.0f);
  CHECK(f.get<double>("b").item() == 123456.0);
  CHECK(f.get<float>("c").item() == 1.0f);
  CHECK(f.get<float>("d").item() == 200.0f);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(dir.file("w.safetensors"), {{"a", ones<float>({1})}}, {}, io::DType::I64),
                       doctest::Contains("cannot write dtype I64"), Error);
}

TEST_CASE("every malformed file is refused with the file name and the problem") {
  testing::TempDir dir;
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
  const std::string data16(16, '\1');
  check_rejected(dir, "short", "abc", "too short for the 8-byte header length");
  check_rejected(dir, "hlen", raw_file("{}", "", 1000), "header length 1000 runs past the end of the 10-byte file");
  check_rejected(dir, "json", raw_file("{\"w\": [1, 2", ""), "header is not valid JSON");
  check_rejected(dir, "notobj", raw_file("[1, 2]", ""), "header is not a JSON object");
  check_rejected(dir, "truncated", raw_file("{" + ok_entry + "}", data16.substr(0, 10)),
                 "tensor 'w': data_offsets [0, 16] lie outside the 10-byte data section (truncated file?)");
  check_rejected(dir, "outside", raw_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[20,24]}})", data16),
                 "tensor 'w': data_offsets [20, 24] lie outside the 16-byte data section");
  check_rejected(dir, "reversed", raw_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data16),
                 "data_offsets [8, 4] lie outside");
  check_rejected(dir, "overlap",
                 raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", data16),
                 "tensors 'a' (bytes 0..8) and 'b' (bytes 4..12) overlap");
  check_rejected(dir, "overlap_past_empty",
                 raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", data16),
                 "tensors 'a' (bytes 0..16) and 'b' (bytes 8..12) overlap");
  check_rejected(dir, "dtype", raw_file(R"({"w":{"dtype":"X42","shape":[2],"data_offsets":[0,8]}})", data16),
                 "tensor 'w': unknown or unsupported dtype 'X42'");
  check_rejected(dir, "dtype_u64", raw_file(R"({"w":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}})", data16),
                 "unknown or unsupported dtype 'U64'");
  check_rejected(dir, "bytes", raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data16),
                 "tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets span 8");
  check_rejected(dir, "bytes16", raw_file(R"({"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16]}})", data16),
                 "shape [2, 2] of F16 needs 8 bytes but data_offsets span 16");
  check_rejected(dir, "fields", raw_file(R"({"w":{"dtype":"F32","shape":[2]}})", data16),
                 "tensor 'w': entry needs dtype, shape and data_offsets");
  check_rejected(dir, "dim", raw_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", data16),
                 "tensor 'w': bad dimension -1");
  check_rejected(dir, "huge", raw_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", data16),
                 "is too large");
  check_rejected(dir, "offsets", raw_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", data16),
                 "data_offsets must be two non-negative integers");
  check_rejected(dir, "meta", raw_file(R"({"__metadata__":[1]})", ""), "__metadata__ is not an object");
  CHECK_THROWS_WITH_AS(io::SafeTensorsFile(dir.file("absent.safetensors")),
                       doctest::Contains(("'" + dir.file("absent.safetensors") + "': cannot open: No such file").c_str()), Error);
  CHECK_THROWS_WITH_AS(io::SafeTensorsFile(dir.file("")), doctest::Contains("not a regular file"), Error);
  // a valid file: asking for a tensor it does not have
  testing::write_bytes(dir.file("ok"), raw_file("{" + ok_entry + "}", data16));
  CHECK_THROWS_WITH_AS(io::SafeTensorsFile(dir.file("ok")).get<float>("v"), doctest::Contains("no tensor named 'v'"), Error);
}

TEST_CASE("the writer refuses bad names, a tensor outlives its file") {
  testing::TempDir dir;
  const std::string p = dir.file("w.safetensors");
  auto one = ones<float>({1});
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"a", one}, {"a", one}}), doctest::Contains("tensor name 'a' used twice"), Error);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"__metadata__", one}}), doctest::Contains("invalid tensor name '__metadata__'"), Error);
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"u", TensorF()}}), doctest::Contains("tensor 'u' is undefined"), Error);
  CHECK(!std::filesystem::exists(p));

  io::save_safetensors<float>(p, {{"a", full<float>({1000}, 3.0f)}});
  TensorF a;
  {
    io::SafeTensorsFile f(p);
    a = f.get<float>("a");
  }
  std::filesystem::remove(p);  // file closed, unmapped and gone: the tensor is a copy
  CHECK(a.data()[999] == 3.0f);
}

TEST_CASE("atomic writes: a failure mid-write leaves the old file and no temporary") {
  testing::TempDir dir;
  const std::string p = dir.file("a.safetensors");
  io::save_safetensors<float>(p, {{"v", full<float>({4}, 1.0f)}});
  const std::string before = testing::read_bytes(p);
  CHECK_THROWS_WITH_AS(io::atomic_write(p, [](io::FileSink& out) {
                         out.write("partial", 7);
                         throw Error("simulated crash");
                       }),
                       "simulated crash", Error);
  CHECK(testing::read_bytes(p) == before);
  CHECK(!std::filesystem::exists(io::temp_path_for(p)));
  // a stale temporary from an earlier crash is simply overwritten
  testing::write_bytes(io::temp_path_for(p), "garbage");
  io::save_safetensors<float>(p, {{"v", full<float>({4}, 2.0f)}});
  CHECK(io::SafeTensorsFile(p).get<float>("v").data()[0] == 2.0f);
  CHECK(!std::filesystem::exists(io::temp_path_for(p)));
  // the temporary cannot be created: a clear error, the file untouched
  std::filesystem::create_directory(io::temp_path_for(p));
  CHECK_THROWS_WITH_AS(io::save_safetensors<float>(p, {{"v", full<float>({4}, 3.0f)}}),
                       doctest::Contains(("cannot create '" + io::temp_path_for(p) + "'").c_str()), Error);
  CHECK(io::SafeTensorsFile(p).get<float>("v").data()[0] == 2.0f);
}

TEST_CASE("write_file_atomically: bytes and text as they are, errors start with the caller") {
  testing::TempDir dir;
  const std::string p = dir.file("out.bin");
  io::write_file_atomically(p, std::vector<uint8_t>{0, 10, 13, 255}, "test");
  CHECK(testing::read_bytes(p) == std::string("\0\n\r\xff", 4));
  io::write_file_atomically(p, std::string("a,b\r\n1,2\n"), "test");
  CHECK(testing::read_bytes(p) == "a,b\r\n1,2\n");
  CHECK(!std::filesystem::exists(io::temp_path_for(p)));
  CHECK_THROWS_WITH_AS(io::write_file_atomically(dir.file("no/such/folder.txt"), "x", "metrics"),
                       doctest::Contains("metrics: cannot create '"), Error);
}

namespace {
// A module tree made from dotted names, every tensor a parameter of the file's shape.
struct FromNames : nn::Module<float> {
  std::map<std::string, std::shared_ptr<FromNames>> kids;
  void add(const std::string& name, const Shape& shape) {
    size_t dot = name.find('.');
    if (dot == std::string::npos) {
      register_parameter(name, zeros<float>(shape));
      return;
    }
    auto& kid = kids[name.substr(0, dot)];
    if (!kid) kid = register_module(name.substr(0, dot), std::make_shared<FromNames>());
    kid->add(name.substr(dot + 1), shape);
  }
};
}  // namespace

TEST_CASE("the real MobileNetV2 weights (../shared): 262 tensors, metadata, strict load by timm names") {
  if (testing::shared_dir().empty()) {
    MESSAGE("skipped: ../shared is absent, so the MobileNetV2 weights are not available");
    return;
  }
  io::SafeTensorsFile f(testing::shared_dir() + "/weights/mobilenetv2_100_imagenet.safetensors");
  CHECK(f.tensors().size() == 262);
  CHECK(f.numel() == 3540265);
  CHECK(f.metadata().at("arch") == "mobilenetv2_100");
  CHECK(f.metadata().at("naming") == "timm");
  CHECK(f.info("conv_stem.weight").shape == Shape{32, 3, 3, 3});
  CHECK(f.info("classifier.weight").shape == Shape{1001, 1280});
  FromNames net;
  for (auto& t : f.tensors()) net.add(t.name, t.shape);
  auto r = net.load(f.path());
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  CHECK(net.num_parameters() == 3540265);
  check_close(net.kids.at("conv_stem")->parameters()[0], f.get<float>("conv_stem.weight"), 0, 0);
  CHECK(net.summary(1).find("  blocks      FromNames     1,842,272") != std::string::npos);
  MESSAGE(net.summary(1));
}
