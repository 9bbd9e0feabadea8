# Builds and runs tests/usage/consumer.cpp the way a user would (cmake -P script).
#   MODE=add_subdirectory | find_package | plain ; SRC = onenip source ; WORK = scratch dir
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(usage ${SRC}/tests/usage)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

if(MODE STREQUAL "plain")
  # g++ -std=c++20 -fopenmp -I include -I /usr/include/eigen3 consumer.cpp
  find_path(EIGEN_DIR Eigen/Core PATHS /usr/include/eigen3 /usr/local/include/eigen3 REQUIRED)
  run(${CXX} -std=c++20 -O1 -fopenmp -I${SRC}/include -I${EIGEN_DIR} ${usage}/consumer.cpp -o ${WORK}/consumer)
elseif(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${SRC} -B ${WORK}/lib -DONENIP_BUILD_TESTS=OFF -DONENIP_BUILD_EXAMPLES=OFF
      -DCMAKE_INSTALL_PREFIX=${WORK}/prefix)
  run(${CMAKE_COMMAND} --install ${WORK}/lib)
  run(${CMAKE_COMMAND} -S ${usage} -B ${WORK}/app -DMODE=find_package -DCMAKE_PREFIX_PATH=${WORK}/prefix
      -DCMAKE_BUILD_TYPE=Release)
  run(${CMAKE_COMMAND} --build ${WORK}/app)
  file(RENAME ${WORK}/app/consumer ${WORK}/consumer)
else()
  run(${CMAKE_COMMAND} -S ${usage} -B ${WORK}/app -DMODE=add_subdirectory -DONENIP_SRC=${SRC}
      -DCMAKE_BUILD_TYPE=Release)
  run(${CMAKE_COMMAND} --build ${WORK}/app)
  file(RENAME ${WORK}/app/consumer ${WORK}/consumer)
endif()
run(${WORK}/consumer)
