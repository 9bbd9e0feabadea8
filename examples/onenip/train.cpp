#include <fstream>

#include "commands.hpp"
#include "workflow.hpp"

namespace onenip::cli {

Action add_train(CLI::App& app) {
  auto cfg = std::make_shared<pipeline::TrainConfig>();
  auto config_file = std::make_shared<std::string>();
  auto decoder = std::make_shared<std::string>("bidirectional");
  auto dice = std::make_shared<std::string>("reference");
  auto resume = std::make_shared<bool>(false);
  auto no_restoration = std::make_shared<bool>(false), no_refiner = std::make_shared<bool>(false);
  app.add_option("--config", *config_file, "JSON config (as saved in a run folder); flags override it")->check(CLI::ExistingFile);
  app.add_option("--data", cfg->data, "class folders or roots holding class folders")->required();
  app.add_option("--backbone", cfg->backbone, "mobilenetv2 | efficientnet-b4")->capture_default_str();
  app.add_option("--weights", cfg->weights, "backbone weights (safetensors); none: deterministic stand-in weights");
  app.add_option("--out", cfg->out, "run folder")->capture_default_str();
  app.add_option("--epochs", cfg->epochs)->capture_default_str();
  app.add_option("--batch", cfg->batch_size)->capture_default_str();
  app.add_option("--lr", cfg->lr)->capture_default_str();
  app.add_option("--weight-decay", cfg->weight_decay)->capture_default_str();
  app.add_option("--clip", cfg->clip, "global gradient-norm clip (0: off)")->capture_default_str();
  app.add_option("--lr-step", cfg->lr_step, "epochs between learning-rate drops")->capture_default_str();
  app.add_option("--save-every", cfg->save_every, "checkpoint every N epochs")->capture_default_str();
  app.add_option("--max-steps", cfg->max_steps, "steps per epoch at most (-1: all)")->capture_default_str();
  app.add_option("--size", cfg->model.image_size, "input size: 224, 256 or 320")->capture_default_str();
  app.add_option("--textures", cfg->textures, "folder of texture images for the Perlin paste");
  app.add_option("--workers", cfg->workers, "data loader threads")->capture_default_str();
  app.add_option("--seed", cfg->seed)->capture_default_str();
  app.add_option("--decoder", *decoder, "bidirectional | static | query")->capture_default_str();
  app.add_option("--dice", *dice, "reference | paper")->capture_default_str();
  app.add_option("--enc-layers", cfg->model.encoder_layers)->capture_default_str();
  app.add_option("--dec-layers", cfg->model.decoder_layers)->capture_default_str();
  app.add_option("--hidden", cfg->model.hidden)->capture_default_str();
  app.add_flag("--no-restoration", *no_restoration, "synthetic stream reconstructs itself (ablation)");
  app.add_flag("--no-refiner", *no_refiner, "no refiner, no Dice loss (ablation)");
  app.add_flag("--fixed-prompt", cfg->fixed_prompt, "the first training image of each class is every prompt");
  app.add_flag("--resume", *resume, "continue from OUT/checkpoint.safetensors");
  return [=, &app]() {
    pipeline::TrainConfig c;
    if (!config_file->empty()) {
      std::ifstream f(*config_file);
      c.update(nlohmann::json::parse(f));
    }
    // flags given on the command line override the file
    auto given = [&](const char* flag) { return app.count(flag) > 0; };
    if (given("--data")) c.data = cfg->data;
    if (given("--backbone")) c.backbone = cfg->backbone;
    if (given("--weights")) c.weights = cfg->weights;
    if (given("--out")) c.out = cfg->out;
    if (given("--epochs")) c.epochs = cfg->epochs;
    if (given("--batch")) c.batch_size = cfg->batch_size;
    if (given("--lr")) c.lr = cfg->lr;
    if (given("--weight-decay")) c.weight_decay = cfg->weight_decay;
    if (given("--clip")) c.clip = cfg->clip;
    if (given("--lr-step")) c.lr_step = cfg->lr_step;
    if (given("--save-every")) c.save_every = cfg->save_every;
    if (given("--max-steps")) c.max_steps = cfg->max_steps;
    if (given("--size")) c.model.image_size = cfg->model.image_size;
    if (given("--textures")) c.textures = cfg->textures;
    if (given("--workers")) c.workers = cfg->workers;
    if (given("--seed")) c.seed = cfg->seed, c.model.seed = cfg->seed;
    if (given("--decoder")) c.model.decoder = pipeline::parse_decoder(*decoder);
    if (given("--dice")) c.model.dice = pipeline::parse_dice(*dice);
    if (given("--enc-layers")) c.model.encoder_layers = cfg->model.encoder_layers;
    if (given("--dec-layers")) c.model.decoder_layers = cfg->model.decoder_layers;
    if (given("--hidden")) c.model.hidden = cfg->model.hidden;
    if (*no_restoration) c.model.restoration = false;
    if (*no_refiner) c.model.refiner = false;
    if (given("--fixed-prompt")) c.fixed_prompt = true;
    train_run(c, *resume);
    return 0;
  };
}

}  // namespace onenip::cli
