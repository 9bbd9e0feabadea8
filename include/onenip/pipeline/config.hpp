/// \file
/// The run's configuration: every knob of training, with the authors' defaults (docs/onenip.md,
/// section 6), readable from and written to JSON (saved into the run folder and the checkpoint)
/// and set by `onenip train`'s flags, all from one list of fields (TrainConfig::visit).
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../models/onenip.hpp"
#include "../ops/precision.hpp"

namespace onenip::pipeline {

inline const char* decoder_name(models::DecoderMode m) {
  return m == models::DecoderMode::Bidirectional ? "bidirectional" : m == models::DecoderMode::Static ? "static" : "query";
}
inline models::DecoderMode parse_decoder(const std::string& s) {
  if (s == "bidirectional") return models::DecoderMode::Bidirectional;
  if (s == "static") return models::DecoderMode::Static;
  if (s == "query") return models::DecoderMode::Query;
  onenip::detail::fail("decoder must be bidirectional, static or query; got '", s, "'");
}
inline nn::DiceForm parse_dice(const std::string& s) {
  if (s == "reference") return nn::DiceForm::reference;
  if (s == "paper") return nn::DiceForm::paper;
  onenip::detail::fail("dice must be reference or paper; got '", s, "'");
}

inline Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::CPU;
  if (s == "cuda") return Device::CUDA;
  onenip::detail::fail("device must be cpu or cuda; got '", s, "'");
}
inline MathPrecision parse_precision(const std::string& s) {
  for (MathPrecision p : {MathPrecision::FP32, MathPrecision::TF32, MathPrecision::BF16})
    if (s == precision_name(p)) return p;
  onenip::detail::fail("precision must be fp32, tf32 or bf16; got '", s, "'");
}

/// Enum fields are names, in JSON and on the command line.
inline std::string enum_name(models::DecoderMode m) { return decoder_name(m); }
inline std::string enum_name(nn::DiceForm f) { return nn::dice_form_name(f); }
inline std::string enum_name(Device d) { return device_name(d); }
inline std::string enum_name(MathPrecision p) { return precision_name(p); }
inline void parse_enum(const std::string& s, models::DecoderMode& m) { m = parse_decoder(s); }
inline void parse_enum(const std::string& s, nn::DiceForm& f) { f = parse_dice(s); }
inline void parse_enum(const std::string& s, Device& d) { d = parse_device(s); }
inline void parse_enum(const std::string& s, MathPrecision& p) { p = parse_precision(s); }

/// `device` can run here: this program has its backend (CUDA needs the onenip::cuda library
/// linked, which registers the device's memory).
inline void check_device_available(Device device, const char* who) {
  auto all = available_devices();
  ONENIP_CHECK(std::find(all.begin(), all.end(), device) != all.end(), who, ": device '", device_name(device),
               "' is not available in this program (build with -DONENIP_CUDA=ON, which links the CUDA backend)");
}

/// The values a numeric field accepts: lo..hi, each end included unless marked open.
struct Bounds {
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  bool open_lo = false, open_hi = false;

  bool contains(double v) const {  // NaN is in no range
    return (open_lo ? v > lo : v >= lo) && (open_hi ? v < hi : v <= hi);
  }
  std::string text() const {
    auto num = [](double v) { std::ostringstream s; s << v; return s.str(); };
    if (std::isinf(hi)) return (open_lo ? "greater than " : "at least ") + num(lo);
    return "in " + std::string(open_lo ? "(" : "[") + num(lo) + ", " + num(hi) + (open_hi ? ")" : "]");
  }
};
inline Bounds at_least(double lo) { return {lo}; }
inline Bounds positive() { return {0, std::numeric_limits<double>::infinity(), true}; }

/// One field of TrainConfig as files and users see it. `key`: its JSON key, dotted for a field
/// of a nested object ("model.hidden"). `flag`: its `onenip train` option, nullptr for a field
/// set from JSON only; two fields may share a flag (--seed). `negated`: a bool field the flag
/// turns off (--no-refiner). `bounds`: the values a numeric field accepts (validate checks them,
/// whether they came from a flag, a config file or code).
struct ConfigField {
  const char* key;
  const char* flag;
  const char* help;
  bool negated = false;
  Bounds bounds = {};

  ConfigField within(Bounds b) const {
    ConfigField f = *this;
    f.bounds = b;
    return f;
  }
  /// "epochs (--epochs)": how messages name the field.
  std::string name() const { return std::string(key) + (flag ? std::string(" (") + flag + ")" : ""); }
};

namespace detail {

// The value at a dotted key, or nullptr.
inline const nlohmann::json* find_key(const nlohmann::json& j, const std::string& key) {
  const nlohmann::json* at = &j;
  for (size_t b = 0;;) {
    size_t e = key.find('.', b);
    auto it = at->find(key.substr(b, e - b));
    if (it == at->end()) return nullptr;
    at = &*it;
    if (e == std::string::npos) return at;
    if (!at->is_object()) return nullptr;
    b = e + 1;
  }
}

// The slot for a dotted key, creating the objects on the way.
inline nlohmann::json& key_slot(nlohmann::json& j, const std::string& key) {
  nlohmann::json* at = &j;
  for (size_t b = 0;;) {
    size_t e = key.find('.', b);
    at = &(*at)[key.substr(b, e - b)];
    if (e == std::string::npos) return *at;
    b = e + 1;
  }
}

template <typename T>
nlohmann::json field_to_json(const T& v) {
  if constexpr (std::is_enum_v<T>) return enum_name(v);
  else return v;
}

// Read `j` into `v`, refusing a value of another type (an integer field takes a whole number,
// also written as 10.0, in its range). The caller adds the key to the message.
template <typename T>
void field_from_json(const nlohmann::json& j, T& v) {
  if constexpr (std::is_enum_v<T>) {
    ONENIP_CHECK(j.is_string(), "must be a name (a string), got ", j.dump());
    parse_enum(j.get<std::string>(), v);
  } else if constexpr (std::is_same_v<T, bool>) {
    ONENIP_CHECK(j.is_boolean(), "must be true or false, got ", j.dump());
    v = j.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    const double d = j.is_number_float() ? j.get<double>() : 0.0;
    const bool ok = j.is_number_unsigned() ? std::in_range<T>(j.get<uint64_t>())
                    : j.is_number_integer() ? std::in_range<T>(j.get<int64_t>())
                                            : j.is_number_float() && std::trunc(d) == d &&
                                                  d >= double(std::numeric_limits<T>::min()) &&
                                                  d < double(std::numeric_limits<T>::max()) + 1.0;
    ONENIP_CHECK(ok, "must be ", std::is_signed_v<T> ? "an integer" : "a non-negative integer",
                 " that fits ", sizeof(T) * 8, " bits, got ", j.dump());
    v = j.is_number_float() ? T(d) : j.get<T>();
  } else if constexpr (std::is_floating_point_v<T>) {
    ONENIP_CHECK(j.is_number(), "must be a number, got ", j.dump());
    v = j.get<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    ONENIP_CHECK(j.is_string(), "must be a string, got ", j.dump());
    v = j.get<std::string>();
  } else {
    static_assert(std::is_same_v<T, std::vector<std::string>>, "a TrainConfig field of a type JSON cannot read");
    bool ok = j.is_array() && std::all_of(j.begin(), j.end(), [](const nlohmann::json& e) { return e.is_string(); });
    ONENIP_CHECK(ok, "must be a list of strings, got ", j.dump());
    v = j.get<std::vector<std::string>>();
  }
}

}  // namespace detail

/// The run's configuration: every knob of training with the authors' defaults, read from and
/// written to JSON, and set by `onenip train`'s flags.
struct TrainConfig {
  std::vector<std::string> data;        ///< class folders or roots holding class folders
  std::string backbone = "mobilenetv2"; ///< or "efficientnet-b4"
  std::string weights;                  ///< backbone safetensors; empty: seeded random backbone
  std::string out = "runs/onenip";
  std::string textures;                 ///< texture folder for the Perlin paste ("" = generated)
  int64_t epochs = 1000;
  int batch_size = 8;
  double lr = 1e-4, weight_decay = 1e-4, clip = 0.1;
  int64_t lr_step = 800;
  double lr_gamma = 0.1;
  int64_t save_every = 10;
  int64_t max_steps = -1;               ///< per epoch, for quick runs; -1 = all
  int workers = 2;
  bool fixed_prompt = false;
  Device device = Device::CPU;                        ///< where the model, backbone and optimiser run
  MathPrecision precision = MathPrecision::FP32;      ///< of matmuls and attention (float weights stay FP32)
  bool sync_bn = false;                 ///< data parallel: batch-norm statistics over all ranks
  uint64_t seed = 133;
  models::OneNIPConfig model;

  /// f(ConfigField, member) for every field, in one list that to_json, update and the command
  /// line all walk: a new field needs one line here and nothing anywhere else.
  template <typename F>
  void visit(F&& f) { visit_fields(*this, f); }
  template <typename F>
  void visit(F&& f) const { visit_fields(*this, f); }

  /// Everything a run needs before it starts: data, a device this program has, and every
  /// field in its bounds (check_values).
  void validate() const {
    ONENIP_CHECK(!data.empty(), "train: no --data given");
    check_device_available(device, "train");
    check_values("train");
  }

  /// Each numeric field within its bounds, and the image size one the model takes; `who` starts
  /// the message, which names the field, its flag, what it accepts and the value given.
  void check_values(const std::string& who) const {
    visit([&](const ConfigField& f, const auto& v) {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
        ONENIP_CHECK(f.bounds.contains(double(v)), who, ": ", f.name(), " must be ", f.bounds.text(), ", got ", v);
    });
    // 224, 256 and 320 are the paper's sizes; any multiple of 16 from 64 works
    ONENIP_CHECK(model.image_size % 16 == 0, who, ": model.image_size (--size) must be a multiple of 16 ",
                 "(224, 256, 320 as in the paper), got ", model.image_size);
  }

  /// Whether a checkpoint saved with the config `saved` can continue as this run: the same
  /// backbone and model fields (what the saved tensors' shapes and meaning depend on; the model's
  /// seed aside, as its random state is in the checkpoint). Training fields (epochs, lr, ...) may
  /// change. The error lists every field that differs, with both values.
  void check_resumable(const nlohmann::json& saved, const std::string& path) const {
    const nlohmann::json now = to_json();
    std::string diffs;
    visit([&](const ConfigField& f, const auto&) {
      const std::string key = f.key;
      if (key != "backbone" && (key.rfind("model.", 0) != 0 || key == "model.seed")) return;
      const nlohmann::json *was = detail::find_key(saved, key), *is = detail::find_key(now, key);
      if (!was || *was != *is)
        diffs += "\n  " + f.name() + ": " + (was ? was->dump() : "absent") + " in the checkpoint, " + is->dump() + " now";
    });
    ONENIP_CHECK(diffs.empty(), "resume: checkpoint '", path, "' holds another model than this run's configuration:",
                 diffs);
  }

  nlohmann::json to_json() const {
    nlohmann::json j = nlohmann::json::object();
    visit([&](const ConfigField& f, const auto& v) { detail::key_slot(j, f.key) = detail::field_to_json(v); });
    return j;
  }

  /// Fields present in `j` override the current values. An unknown key (a typo) and a value of
  /// the wrong type are errors that name the key, and leave the config as it was.
  void update(const nlohmann::json& j) {
    std::set<std::string> keys, groups;  // groups: the nested objects, e.g. "model"
    visit([&](const ConfigField& f, const auto&) {
      std::string key = f.key;
      keys.insert(key);
      for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) groups.insert(key.substr(0, dot));
    });
    check_keys(j, "", keys, groups);
    TrainConfig next = *this;
    next.visit([&](const ConfigField& f, auto& v) {
      const nlohmann::json* value = detail::find_key(j, f.key);
      if (!value) return;
      try {
        detail::field_from_json(*value, v);
      } catch (const std::exception& e) {
        onenip::detail::fail("config: '", f.key, "': ", e.what());
      }
    });
    *this = std::move(next);
  }

private:
  template <typename Self, typename F>
  static void visit_fields(Self& c, F& f) {
    auto& m = c.model;
    f(ConfigField{"data", "--data", "class folders or roots holding class folders"}, c.data);
    f(ConfigField{"backbone", "--backbone", "mobilenetv2 | efficientnet-b4"}, c.backbone);
    f(ConfigField{"weights", "--weights", "backbone weights (safetensors); none: deterministic stand-in weights"},
      c.weights);
    f(ConfigField{"out", "--out", "run folder"}, c.out);
    f(ConfigField{"textures", "--textures", "folder of texture images for the Perlin paste"}, c.textures);
    f(ConfigField{"epochs", "--epochs", "training epochs"}.within(at_least(1)), c.epochs);
    f(ConfigField{"batch_size", "--batch", "query images per step (with N ranks, the global batch: each takes 1/N)"}.within(at_least(1)), c.batch_size);
    f(ConfigField{"lr", "--lr", "AdamW learning rate"}.within(positive()), c.lr);
    f(ConfigField{"weight_decay", "--weight-decay", "AdamW weight decay"}.within(at_least(0)), c.weight_decay);
    f(ConfigField{"clip", "--clip", "global gradient-norm clip (0: off)"}.within(at_least(0)), c.clip);
    f(ConfigField{"lr_step", "--lr-step", "epochs between learning-rate drops"}.within(at_least(1)), c.lr_step);
    f(ConfigField{"lr_gamma", "--lr-gamma", "factor of each learning-rate drop"}.within(positive()), c.lr_gamma);
    f(ConfigField{"save_every", "--save-every", "checkpoint every N epochs"}.within(at_least(1)), c.save_every);
    f(ConfigField{"max_steps", "--max-steps", "steps per epoch at most (-1: all)"}.within(at_least(-1)), c.max_steps);
    f(ConfigField{"workers", "--workers", "data loader threads"}.within(at_least(0)), c.workers);
    f(ConfigField{"fixed_prompt", "--fixed-prompt", "the first training image of each class is every prompt"},
      c.fixed_prompt);
    f(ConfigField{"sync_bn", "--sync-bn", "data parallel: batch-norm statistics over all ranks (default: per rank)"},
      c.sync_bn);
    f(ConfigField{"device", "--device", "cpu | cuda"}, c.device);
    f(ConfigField{"precision", "--precision",
                  "fp32 | tf32 | bf16: inputs of matmuls and attention on cuda (weights, sums and the optimiser stay fp32)"},
      c.precision);
    f(ConfigField{"seed", "--seed", "seed of data order and synthesis; the flag sets model.seed too"}, c.seed);
    // set from the backbone's taps when training starts, so no flag
    f(ConfigField{"model.feature_channels", nullptr, "backbone feature channels C"}.within(at_least(1)), m.feature_channels);
    f(ConfigField{"model.image_size", "--size", "input size: 224, 256 or 320"}.within(at_least(64)), m.image_size);
    f(ConfigField{"model.hidden", "--hidden", "transformer width d"}.within(at_least(2)), m.hidden);
    f(ConfigField{"model.heads", "--heads", "attention heads"}.within(at_least(1)), m.heads);
    f(ConfigField{"model.ff", "--ff", "feed-forward width"}.within(at_least(1)), m.ff);
    f(ConfigField{"model.encoder_layers", "--enc-layers", "encoder layers"}.within(at_least(0)), m.encoder_layers);
    f(ConfigField{"model.decoder_layers", "--dec-layers", "decoder layers"}.within(at_least(0)), m.decoder_layers);
    f(ConfigField{"model.dropout", "--dropout", "dropout in attention and feed-forward layers"}.within({0, 1, false, true}), m.dropout);
    f(ConfigField{"model.jitter_scale", "--jitter-scale", "feature jitter scale in training (0: off)"}.within(at_least(0)), m.jitter_scale);
    f(ConfigField{"model.jitter_prob", "--jitter-prob", "probability of jittering a training forward"}.within({0, 1}), m.jitter_prob);
    f(ConfigField{"model.decoder", "--decoder", "bidirectional | static | query"}, m.decoder);
    f(ConfigField{"model.restoration", "--no-restoration", "synthetic stream reconstructs itself (ablation)", true},
      m.restoration);
    f(ConfigField{"model.refiner", "--no-refiner", "no refiner, no Dice loss (ablation)", true}, m.refiner);
    f(ConfigField{"model.dice", "--dice", "reference | paper"}, m.dice);
    f(ConfigField{"model.dice_weight", "--dice-weight", "weight of the Dice loss (lambda, paper Eq. 8)"}.within(at_least(0)),
      m.dice_weight);
    f(ConfigField{"model.seed", "--seed", "seed of the model's initialisation, dropout and jitter"}, m.seed);
  }

  static void check_keys(const nlohmann::json& j, const std::string& prefix, const std::set<std::string>& keys,
                         const std::set<std::string>& groups) {
    ONENIP_CHECK(j.is_object(), "config: ", prefix.empty() ? "the file" : "'" + prefix + "'",
                 " must be a JSON object, got ", j.dump());
    for (auto& [k, v] : j.items()) {
      std::string key = prefix.empty() ? k : prefix + "." + k;
      if (groups.count(key))
        check_keys(v, key, keys, groups);
      else
        ONENIP_CHECK(keys.count(key), "config: unknown key '", key, "'");
    }
  }
};

}  // namespace onenip::pipeline
