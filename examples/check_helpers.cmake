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
