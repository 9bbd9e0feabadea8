# CTest driver for onenip-score-folder (examples/score_folder.cpp, the program docs/embedding.md
# shows) (cmake -P script). EXE = the onenip program, SCORE = onenip-score-folder, WORK = scratch
# dir. On the demo's seeded dataset and a 2-step run, the program must print one line per image of
# a folder (images of the three classes), in name order, with the score (to 4 decimals), class
# and decision `onenip infer` gives that image: "uncalibrated" before `onenip calibrate`, normal
# or anomalous after. Wrong arguments exit 2 with the usage; a folder that is not a run exits 1
# naming it.
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)

file(REMOVE_RECURSE ${WORK})
run(0 demo --out ${WORK}/demo --dataset-only)
set(data ${WORK}/demo/data)
set(run ${WORK}/run)
run(0 train --data ${data} --out ${run} --epochs 1 --max-steps 2 --batch 4 --size 64)
# a folder of two images of each class, normal and defective
set(folder ${WORK}/mixed)
foreach(image disc/test/good/000 disc/test/scratch/000 grid/test/good/000 grid/test/hole/000 weave/test/good/000
        weave/test/hole/000)
  string(REPLACE "/" "_" name ${image})
  configure_file(${data}/${image}.png ${folder}/${name}.png COPYONLY)
endforeach()
file(GLOB images ${folder}/*.png)
list(SORT images)
list(LENGTH images count)

# decimal_e5(text var): a non-negative decimal number as an integer count of 1e-5 (digits past
# the fifth decimal dropped).
function(decimal_e5 text var)
  if(NOT text MATCHES "^([0-9]+)(\\.([0-9]+))?$")
    message(FATAL_ERROR "'${text}' is not a plain decimal number")
  endif()
  string(SUBSTRING "${CMAKE_MATCH_3}00000" 0 5 fraction)
  math(EXPR value "${CMAKE_MATCH_1} * 100000 + 1${fraction} - 100000")  # the 1 keeps leading zeros decimal
  set(${var} ${value} PARENT_SCOPE)
endfunction()

# same_as_infer(calibrated): the program's lines on the folder against infer's, image by image.
function(same_as_infer calibrated)
  set(cli ${EXE})
  set(EXE ${SCORE})
  run(0 ${run} ${folder})
  string(REGEX MATCHALL "[^\n]+" lines "${out}")
  set(EXE ${cli})
  run(0 infer --checkpoint ${run} --out ${WORK}/infer --batch 1 ${images})
  string(REGEX MATCHALL "[^\n]+" expected "${out}")
  list(LENGTH lines n)
  expect_equal("${n}" "${count}" "onenip-score-folder: one line per image of ${folder}")
  math(EXPR last "${count} - 1")
  foreach(i RANGE ${last})
    list(GET lines ${i} line)
    list(GET expected ${i} json)
    if(NOT line MATCHES "^([^ ]+)  score ([0-9]+\\.[0-9][0-9][0-9][0-9])  class ([a-z]+)  ([a-z]+)$")
      message(FATAL_ERROR "onenip-score-folder: unexpected line '${line}'")
    endif()
    set(name ${CMAKE_MATCH_1})
    set(score ${CMAKE_MATCH_2})
    set(cls ${CMAKE_MATCH_3})
    set(decision ${CMAKE_MATCH_4})
    string(JSON image GET "${json}" image)
    string(JSON infer_score GET "${json}" score)
    string(JSON infer_class GET "${json}" class)
    set(infer_decision uncalibrated)
    if(calibrated)
      string(JSON infer_decision GET "${json}" decision)
    endif()
    get_filename_component(infer_name ${image} NAME)
    expect_equal("${name}" "${infer_name}" "image ${i}")
    expect_equal("${cls}" "${infer_class}" "class of ${name}")
    expect_equal("${decision}" "${infer_decision}" "decision on ${name}")
    decimal_e5(${score} printed)
    decimal_e5(${infer_score} exact)
    math(EXPR error "${printed} - ${exact}")  # rounded to 4 decimals: within 5e-5
    if(error GREATER 5 OR error LESS -5)
      message(FATAL_ERROR "score of ${name}: ${score}, infer says ${infer_score}")
    endif()
  endforeach()
endfunction()

same_as_infer(OFF)
run(0 calibrate --checkpoint ${run} --normal ${data}/weave/test/good --class weave --percentile 90)
same_as_infer(ON)

set(EXE ${SCORE})
run(2 ${run})
expect("${err}" "usage: ")
run(1 ${WORK}/nowhere ${folder})
expect("${err}" "'${WORK}/nowhere' is not a run folder")
message("onenip-score-folder: ${count} images, the scores, classes and decisions of onenip infer, before and after calibrate")
