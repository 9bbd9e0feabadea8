// Fuzz target: the VisA split file (split_csv/1cls.csv: CSV with quoting). The root holds a few
// real files so that records naming them are accepted and the rest of the parser is reached.
#include <onenip/data/layouts/visa.hpp>

#include "fuzz_target.hpp"

ONENIP_FUZZ_TARGET(visa) {
  static const onenip::fuzz::Scratch scratch;
  static const bool images = [] {
    const uint8_t byte = 0;
    for (const char* rel : {"candle/Data/Images/Normal/000.JPG", "candle/Data/Images/Anomaly/000.JPG",
                            "candle/Data/Masks/Anomaly/000.png"})
      scratch.write(rel, &byte, 1);
    return true;
  }();
  (void)images;
  scratch.write("split_csv/1cls.csv", data, size);
  for (const char* only : {"", "candle"}) {
    try {
      (void)onenip::data::layouts::load_visa(scratch.dir(), only);
    } catch (const onenip::Error&) {
    }
  }
  return 0;
}
