# CTest driver for `onenip calibrate`, decisions in `onenip infer` and `onenip eval`, and the
# onenip-decide example (cmake -P script). EXE = the onenip program, DECIDE = onenip-decide,
# WEIGHTS = ../shared/weights, WORK = scratch dir. On the demo's seeded dataset and a tiny run:
#   - calibrate with labelled images fits F1-optimal thresholds, with --normal a percentile;
#   - eval reports the counts at them and says they were fitted on the images it evaluates;
#     its progress off a terminal is one line per step;
#   - infer gives a decision, a normalised score in [0, 1], a mask PNG at the image's size and
#     regions inside it; --batch 2 gives the same lines as --batch 1; --threshold overrides;
#   - a run trained with a relative --weights path evaluates from another folder (needs the
#     shared weights; that part says when it is skipped), and missing weights name --weights.
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/png_size.cmake)

file(REMOVE_RECURSE ${WORK})
run(0 demo --out ${WORK}/demo --dataset-only)
set(data ${WORK}/demo/data)
set(run ${WORK}/run)
run(0 train --data ${data} --out ${run} --epochs 1 --max-steps 2 --batch 4 --size 64)

run(1 calibrate --checkpoint ${run})
expect("${err}" "give --data")
run(0 calibrate --checkpoint ${run} --data ${data})
expect("${out}" "F1-optimal, fitted on")
file(READ ${run}/thresholds.json t)
string(JSON method GET "${t}" method)
expect_equal("${method}" "f1" "calibrate with labelled images")

run(0 eval --checkpoint ${run} --data ${data} --out ${WORK}/eval)
expect("${out}" "at the stored image threshold")
expect("${out}" "evaluated images were used to fit the thresholds")
expect("${err}" "eval disc: ")
if(err MATCHES "[0-9]eval ")
  message(FATAL_ERROR "eval progress runs lines together off a terminal:\n${err}")
endif()
file(READ ${WORK}/eval/metrics.json m)
string(JSON tp GET "${m}" counts all tp)
string(JSON fn GET "${m}" counts all fn)
string(JSON anomalous GET "${m}" mean anomalous)
math(EXPR caught_or_missed "${tp} + ${fn}")
expect_equal("${caught_or_missed}" "${anomalous}" "TP + FN over all classes")

set(a ${data}/disc/test/good/000.png)
set(b ${data}/weave/test/hole/000.png)
set(c ${data}/grid/test/scratch/000.png)
run(0 infer --checkpoint ${run} --out ${WORK}/one --batch 1 ${a} ${b} ${c})
set(one "${out}")
run(0 infer --checkpoint ${run} --out ${WORK}/two --batch 2 ${a} ${b} ${c})
expect("${err}" "infer: 2/3 images\ninfer: 3/3 images")
string(REPLACE "${WORK}/two/" "${WORK}/one/" two "${out}")
expect_equal("${two}" "${one}" "--batch 2 and --batch 1 differ")
string(REGEX MATCHALL "[^\n]+" lines "${one}")
foreach(line IN LISTS lines)
  string(JSON decision GET "${line}" decision)
  string(JSON n GET "${line}" normalized_score)
  string(JSON mask GET "${line}" mask)
  string(JSON w GET "${line}" width)
  string(JSON h GET "${line}" height)
  string(JSON regions LENGTH "${line}" regions)
  if(NOT decision MATCHES "^(normal|anomalous)$" OR n LESS 0 OR n GREATER 1)
    message(FATAL_ERROR "bad decision or normalised score: ${line}")
  endif()
  png_size(${mask} mw mh)
  if(NOT (mw EQUAL w AND mh EQUAL h))
    message(FATAL_ERROR "mask ${mask} is ${mw} x ${mh}, the image ${w} x ${h}")
  endif()
  if(regions GREATER 0)
    math(EXPR last "${regions} - 1")
    foreach(i RANGE ${last})
      string(JSON x GET "${line}" regions ${i} x)
      string(JSON rw GET "${line}" regions ${i} width)
      string(JSON area GET "${line}" regions ${i} area)
      math(EXPR right "${x} + ${rw}")
      if(right GREATER w OR area LESS 1)
        message(FATAL_ERROR "region ${i} outside the image or empty: ${line}")
      endif()
    endforeach()
  endif()
endforeach()
# --threshold: 0 flags every image (maps are non-negative), a huge one none
run(0 infer --checkpoint ${run} --out ${WORK}/low --threshold 0 ${a} ${b} ${c})
string(REGEX MATCHALL "\"decision\":\"anomalous\"" flagged "${out}")
list(LENGTH flagged nf)
expect_equal("${nf}" "3" "--threshold 0")
run(0 infer --checkpoint ${run} --out ${WORK}/high --threshold 1e9 ${a})
expect("${out}" "\"decision\":\"normal\"")

# normal images only: a percentile
run(0 calibrate --checkpoint ${run} --normal ${data}/disc/test/good --class disc --percentile 90)
expect("${out}" "percentile 90 / 99.9 of normal scores")
# --percentile with labelled images: percentiles of their normal ones
run(0 calibrate --checkpoint ${run} --data ${data} --pixel-percentile 99)
expect("${out}" "percentile 99 / 99 of normal scores, fitted on 30 images (0 anomalous)")
file(MAKE_DIRECTORY ${WORK}/empty)
run(1 calibrate --checkpoint ${run} --normal ${WORK}/empty)
expect("${err}" "no images (PNG, JPEG, BMP) in --normal '${WORK}/empty'")

# the library example on a folder
set(cli ${EXE})
set(EXE ${DECIDE})
run(0 ${run} ${data}/weave/test/hole ${WORK}/decide)
expect("${out}" "region")
string(REGEX MATCHALL ": (normal|anomalous) \\([01]\\.[0-9]+\\), [0-9]+ region" decided "${out}")
list(LENGTH decided nd)
file(GLOB holes ${data}/weave/test/hole/*.png)
list(LENGTH holes nh)
expect_equal("${nd}" "${nh}" "onenip-decide: one line per image")
file(GLOB masks ${WORK}/decide/*.png)
list(LENGTH masks nm)
expect_equal("${nm}" "${nh}" "onenip-decide: one mask per image")
file(REMOVE ${run}/thresholds.json)
run(1 ${run} ${data}/weave/test/hole ${WORK}/decide)
expect("${err}" "no thresholds.json")
set(EXE ${cli})

# missing weights: the message says --weights
run(1 eval --checkpoint ${run} --data ${data} --weights ${WORK}/nowhere.safetensors)
expect("${err}" "pass --weights PATH")
# a run trained with a relative --weights path, evaluated from another folder
set(w ${WEIGHTS}/mobilenetv2_100_imagenet.safetensors)
if(EXISTS ${w})
  file(RELATIVE_PATH rel ${WORK} ${w})
  execute_process(COMMAND ${EXE} train --data demo/data --out rel_run --weights ${rel} --epochs 1 --max-steps 1
                  --batch 2 --size 64 WORKING_DIRECTORY ${WORK} RESULT_VARIABLE rc ERROR_VARIABLE err)
  expect_equal("${rc}" "0" "train with a relative --weights: ${err}")
  file(MAKE_DIRECTORY ${WORK}/elsewhere)
  execute_process(COMMAND ${EXE} eval --checkpoint ${WORK}/rel_run --data ${data}/disc --out ${WORK}/rel_eval
                  WORKING_DIRECTORY ${WORK}/elsewhere RESULT_VARIABLE rc ERROR_VARIABLE err)
  expect_equal("${rc}" "0" "eval from another folder of a run trained with a relative --weights: ${err}")
else()
  message("relative --weights part skipped: no ${w}")
endif()

message("calibrate: F1 and percentile thresholds stored; eval counts at them; infer decides, batched = one at a time")
