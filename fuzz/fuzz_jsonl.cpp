// Fuzz target: the JSON-lines dataset meta files (train.json / test.json). The image folder holds
// a few real files so that lines naming them are accepted and the rest of the parser is reached.
#include <onenip/data/layouts/jsonl.hpp>

#include "fuzz_target.hpp"

ONENIP_FUZZ_TARGET(jsonl) {
  static const onenip::fuzz::Scratch scratch;
  static const bool images = [] {
    const uint8_t byte = 0;
    for (const char* rel : {"bottle/train/good/000.png", "bottle/test/crack/000.png", "bottle/ground_truth/crack/000_mask.png"})
      scratch.write(rel, &byte, 1);
    return true;
  }();
  (void)images;
  // The input is both meta files: the train side up to the first form feed, the test side after it.
  const uint8_t* split = static_cast<const uint8_t*>(std::memchr(data, '\f', size));
  const size_t train_size = split ? size_t(split - data) : size;
  const std::string train = scratch.write("train.json", data, train_size);
  const std::string test = split ? scratch.write("test.json", split + 1, size - train_size - 1) : scratch.write("test.json", data, 0);
  try {
    (void)onenip::data::layouts::load_jsonl(train, test);
  } catch (const onenip::Error&) {
  }
  return 0;
}
