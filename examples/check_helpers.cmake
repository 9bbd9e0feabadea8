# Helpers for the CTest driver scripts (cmake -P) of the example programs. EXE = the program.

# run(expect_rc args...): run EXE with args, fail unless it exits with expect_rc; sets out and err.
function(run expect_rc)
  execute_process(COMMAND ${EXE} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL expect_rc)
    message(FATAL_ERROR "expected exit ${expect_rc}, got ${rc}: ${ARGN}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

# expect(text what): fail unless text contains what.
function(expect text what)
  string(FIND "${text}" "${what}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "expected '${what}' in:\n${text}")
  endif()
endfunction()

# expect_equal(actual expected why): fail unless the two strings are equal.
function(expect_equal actual expected why)
  if(NOT actual STREQUAL expected)
    message(FATAL_ERROR "${why}:\n${actual}\nexpected:\n${expected}")
  endif()
endfunction()

# snapshot(folder var): every file under folder with its SHA-256 (and every sub-folder), to show
# that a refused command changed nothing.
function(snapshot folder var)
  file(GLOB_RECURSE entries LIST_DIRECTORIES true "${folder}/*")
  list(SORT entries)
  set(s "")
  foreach(e IN LISTS entries)
    if(IS_DIRECTORY "${e}")
      string(APPEND s "${e}/\n")
    else()
      file(SHA256 "${e}" h)
      string(APPEND s "${e} ${h}\n")
    endif()
  endforeach()
  set(${var} "${s}" PARENT_SCOPE)
endfunction()

# refuse(SAYS text... [KEEPS folder] ARGS arg...): EXE with args exits with an error code (not a
# crash: a signal gives a text, not a number), stderr holds every text, and the folder is byte for
# byte as it was before.
function(refuse)
  cmake_parse_arguments(PARSE_ARGV 0 R "" "KEEPS" "SAYS;ARGS")
  if(R_KEEPS)
    snapshot("${R_KEEPS}" before)
  endif()
  execute_process(COMMAND ${EXE} ${R_ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "expected an error exit, got '${rc}': ${R_ARGS}\n${out}\n${err}")
  endif()
  foreach(text IN LISTS R_SAYS)
    expect("${err}" "${text}")
  endforeach()
  if(R_KEEPS)
    snapshot("${R_KEEPS}" after)
    expect_equal("${after}" "${before}" "'${R_ARGS}' changed ${R_KEEPS}")
  endif()
endfunction()
