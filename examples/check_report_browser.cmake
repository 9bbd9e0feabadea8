# CTest driver: the report's threshold slider in a real browser (cmake -P script). EXE = the onenip
# program, WORK = scratch dir. A tiny run on the demo's dataset is calibrated and evaluated; the
# report is opened in headless chromium twice, as it loads (the stored threshold) and with
# report.html#set=T, which moves the image slider to T as its input event would. The counts the
# page then shows (per class, all, caught per defect type) must equal those that C++ computed
# (metrics.json of `onenip eval`, with --threshold T for the second).
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)

find_program(CHROMIUM NAMES chromium chromium-browser google-chrome)
if(NOT CHROMIUM)
  message("SKIPPED: no chromium (or chromium-browser, google-chrome) on PATH; `apt-get install chromium` "
          "to run this test (.ci/run's browser tier does)")
  return()
endif()

file(REMOVE_RECURSE ${WORK})
run(0 demo --out ${WORK}/demo --dataset-only)
set(data ${WORK}/demo/data)
run(0 train --data ${data} --out ${WORK}/run --epochs 1 --max-steps 2 --batch 4 --size 64)
run(0 calibrate --checkpoint ${WORK}/run --data ${data})
run(0 eval --checkpoint ${WORK}/run --data ${data} --out ${WORK}/stored)

# page_counts(url var): the JSON the page wrote into <pre id="selftest">
function(page_counts url var)
  execute_process(COMMAND ${CHROMIUM} --headless --no-sandbox --disable-gpu --disable-dev-shm-usage
                  --user-data-dir=${WORK}/profile --dump-dom ${url}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE dom ERROR_VARIABLE err TIMEOUT 120)
  if(NOT rc EQUAL 0 OR NOT dom MATCHES "<pre id=\"selftest\"[^>]*>([^<]+)</pre>")
    message(FATAL_ERROR "chromium gave no self-test result for ${url} (exit ${rc}):\n${err}")
  endif()
  set(${var} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

# compare(page metrics what): the page's counts against metrics.json's
function(compare page metrics what)
  string(JSON nclasses LENGTH "${metrics}" classes)
  math(EXPR last "${nclasses} - 1")
  foreach(k tp fp tn fn)
    string(JSON want GET "${metrics}" counts all ${k})
    string(JSON got GET "${page}" all ${k})
    expect_equal("${got}" "${want}" "${what}: ${k} over all classes")
    foreach(i RANGE ${last})
      string(JSON cls GET "${metrics}" classes ${i} class)
      string(JSON want GET "${metrics}" counts ${cls} ${k})
      string(JSON got GET "${page}" classes ${i} ${k})
      expect_equal("${got}" "${want}" "${what}: ${k} of ${cls}")
    endforeach()
  endforeach()
  string(JSON ndefects LENGTH "${metrics}" defects)
  math(EXPR last "${ndefects} - 1")
  foreach(j RANGE ${last})
    string(JSON want GET "${metrics}" defects ${j} caught)
    string(JSON got GET "${page}" caught ${j})
    expect_equal("${got}" "${want}" "${what}: caught of defect type ${j}")
  endforeach()
endfunction()

file(READ ${WORK}/stored/metrics.json stored)
page_counts(file://${WORK}/stored/report.html at_load)
compare("${at_load}" "${stored}" "at the stored threshold")

# Another threshold, one that changes the counts: a test image's score cut to 9 decimals, a
# number that both sides read the same way (a range input keeps 15 significant digits).
string(JSON tp0 GET "${stored}" counts all tp)
string(JSON fp0 GET "${stored}" counts all fp)
string(REGEX MATCHALL "\"score\": [-0-9.eE+]+" scores "${stored}")
set(moved "")
foreach(s IN LISTS scores)
  string(REGEX REPLACE "^\"score\": (-?[0-9]+)(\\.[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?)?[0-9]*(.*)$"
         "\\1\\2\\3" t "${s}")
  run(0 eval --checkpoint ${WORK}/run --data ${data} --out ${WORK}/moved --threshold ${t})
  file(READ ${WORK}/moved/metrics.json m)
  string(JSON tp GET "${m}" counts all tp)
  string(JSON fp GET "${m}" counts all fp)
  if(NOT (tp EQUAL tp0 AND fp EQUAL fp0))
    set(moved ${t})
    break()
  endif()
endforeach()
if(moved STREQUAL "")
  message(FATAL_ERROR "no test image's score changes the counts: the test cannot move the slider")
endif()
page_counts("file://${WORK}/stored/report.html#set=${moved}" after_move)
compare("${after_move}" "${m}" "slider moved to ${moved}")
message("browser: ${CHROMIUM} shows the C++ counts at the stored threshold and after moving the slider to ${moved} (TP ${tp}, FP ${fp})")
