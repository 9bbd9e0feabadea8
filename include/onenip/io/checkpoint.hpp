/// \file
/// Training checkpoints: everything a run needs to continue exactly as if it had not stopped,
/// in one safetensors file written atomically (io/atomic_file.hpp):
///   tensors       model.\<state-dict name\>          parameters and persistent buffers
///                 optim.\<slot\>.\<parameter name\>  such as optim.exp_avg.fc.weight
///   __metadata__  format, epoch, global_step, and as JSON: optimizer (kind, parameter names,
///                 step counts, lr, options), schedule, rng (seed and offset per named
///                 Generator), config (the run's configuration), extra (the application's).
/// Loading restores into the objects a TrainingState points at; pieces left null (no optimizer,
/// no generators) are not restored, so inference can load the model alone.
#pragma once

#include "../nn/serialize.hpp"
#include "../optim/schedule.hpp"
#include "../random.hpp"

namespace onenip::io {

inline constexpr const char* kCheckpointFormat = "onenip.checkpoint.v1";

template <typename T>
struct TrainingState {
  nn::Module<T>* model = nullptr;              ///< required
  optim::Optimizer<T>* optimizer = nullptr;    ///< its parameters must belong to `model`
  optim::LRScheduler<T>* schedule = nullptr;
  std::map<std::string, Generator*> generators;
  int64_t epoch = 0, global_step = 0;
  nlohmann::json config = nlohmann::json::object();  ///< the run's configuration
  nlohmann::json extra = nlohmann::json::object();   ///< anything else the application keeps
};

namespace detail {
// The model's name for each optimiser parameter, in the optimiser's order.
template <typename T>
std::vector<std::string> optimizer_param_names(const nn::Module<T>& model, const optim::Optimizer<T>& opt,
                                               const std::string& path) {
  std::map<const TensorImpl<T>*, std::string> name_of;
  for (auto& [n, t] : model.named_parameters()) name_of.emplace(t.impl(), n);
  std::vector<std::string> names;
  for (size_t i = 0; i < opt.params().size(); ++i) {
    auto it = name_of.find(opt.params()[i].impl());
    ONENIP_CHECK(it != name_of.end(), "checkpoint '", path, "': optimizer parameter ", i, " (shape ",
                 shape_str(opt.params()[i].shape()), ") is not a parameter of the model");
    names.push_back(it->second);
  }
  return names;
}

// "a, b" for names in `want` but not in `have`.
inline std::vector<std::string> missing_from(const std::vector<std::string>& want, const std::set<std::string>& have) {
  std::vector<std::string> out;
  for (auto& w : want)
    if (!have.count(w)) out.push_back(w);
  return out;
}
}  // namespace detail

template <typename T>
void save_checkpoint(const std::string& path, const TrainingState<T>& s) {
  ONENIP_CHECK(s.model != nullptr, "save_checkpoint '", path, "': no model");
  nn::NamedTensors<T> tensors;
  for (auto& [n, t] : s.model->state_dict()) tensors.emplace_back("model." + n, t);
  Metadata md{{"format", kCheckpointFormat},
              {"epoch", std::to_string(s.epoch)},
              {"global_step", std::to_string(s.global_step)},
              {"config", s.config.dump()},
              {"extra", s.extra.dump()}};
  if (s.optimizer) {
    auto names = detail::optimizer_param_names(*s.model, *s.optimizer, path);
    optim::OptimizerState<T> st = s.optimizer->state();
    for (auto& [slot, ts] : st.slots)
      for (size_t i = 0; i < ts.size(); ++i)
        if (ts[i].defined()) tensors.emplace_back("optim." + slot + "." + names[i], ts[i]);
    md["optimizer"] = nlohmann::json{{"kind", st.kind}, {"params", names}, {"scalars", st.scalars}}.dump();
  }
  if (s.schedule) md["schedule"] = s.schedule->state().dump();
  nlohmann::json rng = nlohmann::json::object();
  for (auto& [name, g] : s.generators) rng[name] = {{"seed", g->seed()}, {"offset", g->offset()}};
  md["rng"] = rng.dump();
  save_safetensors(path, tensors, md);
}

namespace detail {
inline nlohmann::json checkpoint_metadata(const SafeTensorsFile& f) {
  const Metadata& md = f.metadata();
  auto it = md.find("format");
  ONENIP_CHECK(it != md.end() && it->second == kCheckpointFormat, "checkpoint '", f.path(),
               "': not an onenip checkpoint (__metadata__ format is ",
               it == md.end() ? std::string("missing") : "'" + it->second + "'", ", expected '", kCheckpointFormat, "')");
  nlohmann::json out = nlohmann::json::object();
  for (auto& [k, v] : md) {
    try {
      out[k] = k == "format" ? nlohmann::json(v) : nlohmann::json::parse(v);
    } catch (const std::exception& e) {
      onenip::detail::fail("checkpoint '", f.path(), "': __metadata__ '", k, "' is not valid JSON: ", e.what());
    }
  }
  return out;
}
}  // namespace detail

/// All of the checkpoint's metadata, parsed (config, epoch, ...), without loading tensors: to
/// rebuild the model from its configuration before load_checkpoint.
inline nlohmann::json read_checkpoint_metadata(const std::string& path) {
  return detail::checkpoint_metadata(SafeTensorsFile(path));
}

/// Restore into the objects `s` points at and fill epoch, global_step, config and extra. On an
/// error the objects may be partly restored: discard them.
template <typename T>
void load_checkpoint(const std::string& path, TrainingState<T>& s) {
  ONENIP_CHECK(s.model != nullptr, "load_checkpoint '", path, "': no model to load into");
  SafeTensorsFile f(path);
  nlohmann::json md = detail::checkpoint_metadata(f);
  auto field = [&](const char* key) -> const nlohmann::json& {
    ONENIP_CHECK(md.contains(key), "checkpoint '", path, "': no '", key, "' in __metadata__");
    return md[key];
  };
  try {
    s.epoch = field("epoch").template get<int64_t>();
    s.global_step = field("global_step").template get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    onenip::detail::fail("checkpoint '", path, "': bad epoch or global_step: ", e.what());
  }
  s.config = field("config");
  s.extra = field("extra");

  // Random generators: the names must match exactly.
  if (!s.generators.empty()) {
    const nlohmann::json& rng = field("rng");
    std::set<std::string> saved, wanted;
    for (auto& [k, v] : rng.items()) saved.insert(k);
    for (auto& [k, g] : s.generators) wanted.insert(k);
    auto missing = detail::missing_from({wanted.begin(), wanted.end()}, saved);
    auto unexpected = detail::missing_from({saved.begin(), saved.end()}, wanted);
    ONENIP_CHECK(missing.empty() && unexpected.empty(), "checkpoint '", path, "': random generators differ: missing [",
                 nn::detail::join_names(missing), "], unexpected [", nn::detail::join_names(unexpected), "]");
  }

  // Model: strict, from the tensors under "model.".
  s.model->load_from(nn::file_source<T>(f, "model."), true);

  // Optimiser: same parameters (by name, in order), slot tensors under "optim.<slot>.".
  if (s.optimizer) {
    ONENIP_CHECK(md.contains("optimizer"), "checkpoint '", path, "': it holds no optimizer state");
    const nlohmann::json& o = md["optimizer"];
    auto names = detail::optimizer_param_names(*s.model, *s.optimizer, path);
    std::vector<std::string> saved_names;
    try {
      saved_names = o.at("params").get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
      onenip::detail::fail("checkpoint '", path, "': bad optimizer parameter list: ", e.what());
    }
    std::set<std::string> saved_set(saved_names.begin(), saved_names.end()), name_set(names.begin(), names.end());
    auto missing = detail::missing_from(names, saved_set), unexpected = detail::missing_from(saved_names, name_set);
    ONENIP_CHECK(names == saved_names, "checkpoint '", path, "': the optimizer's parameters differ from the saved ones",
                 missing.empty() && unexpected.empty() ? " (same names, different order)" : "", ": missing [",
                 nn::detail::join_names(missing), "], unexpected [", nn::detail::join_names(unexpected), "]");
    optim::OptimizerState<T> st;
    try {
      st.kind = o.value("kind", "");
      st.scalars = o.value("scalars", nlohmann::json::object());
    } catch (const nlohmann::json::exception& e) {
      onenip::detail::fail("checkpoint '", path, "': bad optimizer kind or scalars: ", e.what());
    }
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < names.size(); ++i) index[names[i]] = i;
    std::vector<std::string> stray;
    for (auto& ti : f.tensors()) {
      if (ti.name.compare(0, 6, "optim.") != 0) continue;
      size_t dot = ti.name.find('.', 6);
      std::string slot = ti.name.substr(6, dot == std::string::npos ? std::string::npos : dot - 6);
      auto it = dot == std::string::npos ? index.end() : index.find(ti.name.substr(dot + 1));
      if (it == index.end()) {
        stray.push_back(ti.name);
        continue;
      }
      auto& v = st.slots[slot];
      v.resize(names.size());
      v[it->second] = f.get<T>(ti.name);
    }
    ONENIP_CHECK(stray.empty(), "checkpoint '", path, "': optimizer tensors for no parameter of the model: ",
                 nn::detail::join_names(stray));
    try {
      s.optimizer->load_state(st);
    } catch (const Error& e) {
      onenip::detail::fail("checkpoint '", path, "': ", e.what());
    } catch (const nlohmann::json::exception& e) {  // a scalar of the wrong JSON type
      onenip::detail::fail("checkpoint '", path, "': bad optimizer scalars: ", e.what());
    }
  }

  if (s.schedule) {
    ONENIP_CHECK(md.contains("schedule"), "checkpoint '", path, "': it holds no schedule state");
    s.schedule->load_state(md["schedule"]);  // after the optimiser: it sets the optimiser's lr
  }
  for (auto& [name, g] : s.generators) {
    try {
      const nlohmann::json& st = md["rng"][name];
      g->set_state(st.at("seed").get<uint64_t>(), st.at("offset").get<uint64_t>());
    } catch (const nlohmann::json::exception& e) {
      onenip::detail::fail("checkpoint '", path, "': bad state of random generator '", name, "': ", e.what());
    }
  }
}

}  // namespace onenip::io
