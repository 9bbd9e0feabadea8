# CTest driver for `onenip explain` (cmake -P script). EXE = the onenip program, WORK = scratch dir.
# The demo's seeded dataset and 2 training steps on it (stand-in backbone weights, 64 x 64) give a
# run folder; then explain must
#   - write one row per image, six panels of --cell pixels with 4-pixel gaps: a PNG of exactly
#     6 x 48 + 5 x 4 by 2 x 48 + 4 pixels, and one JSON line per image (a mask for the defect only);
#   - draw six different panels: each column alone (--columns) is a PNG of its own content;
#   - refuse a defective image in the MVTec AD layout whose mask is not its size (as evaluation
#     does), or is missing, naming what it sought.
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/png_size.cmake)

file(REMOVE_RECURSE ${WORK})
run(0 demo --out ${WORK}/demo --dataset-only)
run(0 train --data ${WORK}/demo/data --out ${WORK}/run --size 64 --epochs 1 --max-steps 2 --batch 4)
set(defect ${WORK}/demo/data/weave/test/hole/000.png)
set(good ${WORK}/demo/data/disc/test/good/000.png)

run(0 explain --checkpoint ${WORK}/run --out ${WORK}/all.png --cell 48 ${defect} ${good})
png_size(${WORK}/all.png w h)
if(NOT (w EQUAL 308 AND h EQUAL 100))
  message(FATAL_ERROR "explain figure is ${w} x ${h}, expected 308 x 100 (6 panels of 48 + gaps, 2 rows)")
endif()
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(LENGTH lines n)
if(NOT n EQUAL 2)
  message(FATAL_ERROR "expected 2 JSON lines, got ${n}:\n${out}")
endif()
list(GET lines 0 first)
list(GET lines 1 second)
string(JSON m0 GET "${first}" mask)
string(JSON m1 GET "${second}" mask)
if(NOT (m0 STREQUAL "ON" AND m1 STREQUAL "OFF"))
  message(FATAL_ERROR "the defect should have its mask and the good image none:\n${out}")
endif()

# Each column alone: 48 pixels wide, and no two alike.
set(seen "")
foreach(column image mask rec ref map overlay)
  run(0 explain --checkpoint ${WORK}/run --out ${WORK}/${column}.png --columns ${column} --cell 48 ${defect})
  png_size(${WORK}/${column}.png w h)
  if(NOT (w EQUAL 48 AND h EQUAL 48))
    message(FATAL_ERROR "column ${column} alone is ${w} x ${h}, expected 48 x 48")
  endif()
  file(SHA256 ${WORK}/${column}.png hash)
  list(FIND seen ${hash} at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "column ${column} has the same pixels as an earlier column")
  endif()
  list(APPEND seen ${hash})
endforeach()

set(mask ${WORK}/demo/data/weave/ground_truth/hole/000_mask.png)
run(0 synth --data ${WORK}/demo/data --count 1 --out ${mask})  # a grid, not the image's 128 x 128
refuse(SAYS "dataset: mask '${mask}' is " "but its image '" ARGS explain --checkpoint ${WORK}/run --out ${WORK}/x.png ${defect})
file(REMOVE ${mask})
refuse(SAYS "has no mask" "000_mask.png" ARGS explain --checkpoint ${WORK}/run --out ${WORK}/x.png ${defect})
