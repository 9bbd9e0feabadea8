# CTest driver for `onenip infer` (cmake -P script). EXE = the onenip program, WORK = scratch dir.
# The demo's seeded dataset and 2 training steps on it (stand-in backbone weights) give a run
# folder; then infer must
#   - score images of different sizes (the demo's 128 x 128 ones and a synthesis grid of another
#     size), write one JSON line each to stdout and results.jsonl, and an overlay PNG at each
#     image's original size;
#   - give the same score for an image alone as among others, and with --class as with cosine
#     selection when that picked the same class;
#   - on a corrupt image, exit non-zero naming the file and leave the earlier results.jsonl intact.
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/png_size.cmake)

file(REMOVE_RECURSE ${WORK})
run(0 demo --out ${WORK}/demo --dataset-only)
run(0 train --data ${WORK}/demo/data --out ${WORK}/demo/run --epochs 1 --max-steps 2 --batch 4)
run(0 synth --data ${WORK}/demo/data --count 2 --out ${WORK}/grid.png)

set(a ${WORK}/demo/data/disc/test/good/000.png)
set(b ${WORK}/demo/data/weave/test/hole/000.png)
set(grid ${WORK}/grid.png)
run(0 infer --checkpoint ${WORK}/demo/run --out ${WORK}/infer ${a} ${b} ${grid})
set(together "${out}")
string(REGEX MATCHALL "[^\n]+" lines "${together}")
list(LENGTH lines n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "expected 3 JSON lines, got ${n}:\n${together}")
endif()
file(READ ${WORK}/infer/results.jsonl saved)
expect_equal("${saved}" "${together}" "results.jsonl differs from what was printed")

foreach(line IN LISTS lines)
  string(JSON image GET "${line}" image)
  string(JSON overlay GET "${line}" overlay)
  string(JSON width GET "${line}" width)
  string(JSON height GET "${line}" height)
  string(JSON cls GET "${line}" class)
  string(JSON score GET "${line}" score)
  png_size(${image} iw ih)
  png_size(${overlay} ow oh)
  if(NOT (iw EQUAL width AND ih EQUAL height AND ow EQUAL iw AND oh EQUAL ih))
    message(FATAL_ERROR "${image} is ${iw} x ${ih}, JSON says ${width} x ${height}, overlay ${overlay} is ${ow} x ${oh}")
  endif()
  if(NOT cls MATCHES "^(disc|grid|weave)$" OR NOT score MATCHES "^[0-9]")
    message(FATAL_ERROR "bad class or score in ${line}")
  endif()
endforeach()
png_size(${grid} gw gh)
if(gw EQUAL 128 AND gh EQUAL 128)
  message(FATAL_ERROR "the synthesis grid should not be 128 x 128 (the test needs another size)")
endif()

# The second image alone: the same line as among the others (same score, class, size).
list(GET lines 1 second)
run(0 infer --checkpoint ${WORK}/demo/run --out ${WORK}/alone ${b})
string(STRIP "${out}" alone)
string(REPLACE "${WORK}/infer/" "${WORK}/alone/" expected "${second}")
expect_equal("${alone}" "${expected}" "alone and among others differ")
# --class with the class cosine chose: the same score
string(JSON cls GET "${second}" class)
run(0 infer --checkpoint ${WORK}/demo/run --out ${WORK}/known --class ${cls} ${b})
string(STRIP "${out}" known)
string(REPLACE "${WORK}/infer/" "${WORK}/known/" expected "${second}")
expect_equal("${known}" "${expected}" "--class ${cls} and cosine selection differ")

# A corrupt image: a clear error naming it, and the earlier results stay.
file(WRITE ${WORK}/corrupt.png "not a png at all")
run(1 infer --checkpoint ${WORK}/demo/run --out ${WORK}/infer ${a} ${WORK}/corrupt.png)
expect("${err}" "corrupt.png")
file(READ ${WORK}/infer/results.jsonl after)
expect_equal("${after}" "${together}" "a failed run changed results.jsonl")
message("infer: 3 images of 2 sizes scored, alone = together, known class = cosine, corrupt input refused")
