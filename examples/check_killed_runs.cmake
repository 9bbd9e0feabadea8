# CTest driver for `onenip train` killed, interrupted or failing to write (cmake -P script).
# EXE = the onenip program, WORK = scratch dir. The test-only fault variables make each moment
# exact: ONENIP_FAULT_STEP="<N>:KILL|INT|TERM" raises the signal after global step N,
# ONENIP_FAULT_WRITE="<name>:<bytes>:kill|enospc|eacces" stops the atomic write of a file whose
# name contains <name> after <bytes> bytes (io/atomic_file.hpp).
#
# One run folder goes through every failure in turn, each time resumed from what the last one
# left: killed during its first checkpoint write (nothing to resume: it starts over), killed
# mid-epoch, a full disk at the next checkpoint, killed during that checkpoint write, SIGINT
# mid-epoch, killed during the prompt-pool write. After each, the folder holds only whole files
# (a checkpoint byte-identical to the last one written, and at most a partial *.tmp), and the
# final checkpoint and prompt pool equal an uninterrupted run's bit for bit. Also: two
# uninterrupted runs with the same seed and thread count are identical, SIGTERM from outside
# stops with a checkpoint and exit 143, and an unwritable run folder is an error naming the file.
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)

file(REMOVE_RECURSE ${WORK})
run(0 demo --out ${WORK}/demo --dataset-only)
# 12 training images of one class: each run takes about a second
file(GLOB images ${WORK}/demo/data/disc/train/good/*.png)
list(SORT images)
list(SUBLIST images 0 12 images)
file(COPY ${images} DESTINATION ${WORK}/data/disc/train/good)
# 3 epochs of 2 steps (global steps 1-6), a checkpoint after each epoch; 2 threads, so the
# kernels' parallel paths are the ones proved deterministic
set(ENV{OMP_NUM_THREADS} 2)
set(flags --data ${WORK}/data/disc --max-steps 2 --save-every 1 --batch 2 --size 64 --enc-layers 1
    --dec-layers 1 --hidden 32 --workers 1 --seed 7)

# train(expect folder faults args...): `onenip train` into WORK/folder with `faults` (a list of
# VAR=value) in the environment; expect is an exit code or "killed". Sets out and err.
function(train expect folder faults)
  foreach(f ${faults})
    string(REGEX MATCH "^([A-Z_]+)=(.*)$" _ "${f}")
    set(ENV{${CMAKE_MATCH_1}} "${CMAKE_MATCH_2}")
  endforeach()
  execute_process(COMMAND ${EXE} train ${flags} --epochs 3 --out ${WORK}/${folder} ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  unset(ENV{ONENIP_FAULT_STEP})
  unset(ENV{ONENIP_FAULT_WRITE})
  if(expect STREQUAL "killed")
    set(ok 0)
    if(rc MATCHES "[Kk]illed|^9$|^137$")
      set(ok 1)
    endif()
  elseif(rc STREQUAL expect)
    set(ok 1)
  else()
    set(ok 0)
  endif()
  if(NOT ok)
    message(FATAL_ERROR "train ${folder} with '${faults}' ${ARGN}: expected ${expect}, got ${rc}\n${err}")
  endif()
  set(err "${err}" PARENT_SCOPE)
endfunction()

# expect_files(folder names...): the folder holds exactly these files, config.json parses.
function(expect_files folder)
  file(GLOB have RELATIVE ${WORK}/${folder} ${WORK}/${folder}/*)
  list(SORT have)
  set(want ${ARGN})
  list(SORT want)
  expect_equal("${have}" "${want}" "files in ${folder}")
  file(READ ${WORK}/${folder}/config.json cfg)
  string(JSON seed GET "${cfg}" seed)
  expect_equal("${seed}" "7" "${folder}/config.json seed")
endfunction()

function(sha folder name var)
  file(SHA256 ${WORK}/${folder}/${name} h)
  set(${var} ${h} PARENT_SCOPE)
endfunction()

# The uninterrupted run, twice: the same seed and thread count give the same bytes. Each run
# writes to WORK/run (the checkpoint holds the configuration, the output folder included).
train(0 run "")
sha(run checkpoint.safetensors ref_ckpt)
sha(run prompts.safetensors ref_pool)
file(RENAME ${WORK}/run ${WORK}/first)
train(0 run "")
sha(run checkpoint.safetensors again_ckpt)
sha(run prompts.safetensors again_pool)
expect_equal("${again_ckpt}" "${ref_ckpt}" "checkpoint of a second run with the same seed")
expect_equal("${again_pool}" "${ref_pool}" "prompt pool of a second run with the same seed")
file(REMOVE_RECURSE ${WORK}/run)
set(always config.json train.log)

# Killed 1000 bytes into its first checkpoint: no checkpoint, a partial .tmp; --resume starts over.
train(killed run "ONENIP_FAULT_WRITE=checkpoint:1000:kill")
expect_files(run ${always} checkpoint.safetensors.tmp)
file(SIZE ${WORK}/run/checkpoint.safetensors.tmp size)
expect_equal("${size}" "1000" "size of the partial checkpoint")

# Killed after global step 3 (epoch 2, mid-epoch): epoch 1's checkpoint stays.
train(killed run "ONENIP_FAULT_STEP=3:KILL" --resume)
expect("${err}" "training from the beginning")
expect_files(run ${always} checkpoint.safetensors)
sha(run checkpoint.safetensors epoch1)

# Disk full at epoch 2's checkpoint: a named error, epoch 1's checkpoint unchanged, no .tmp.
train(1 run "ONENIP_FAULT_WRITE=checkpoint:1000:enospc" --resume)
expect("${err}" "resumed from ${WORK}/run/checkpoint.safetensors at epoch 2, global step 2")
expect("${err}" "cannot write to '${WORK}/run/checkpoint.safetensors.tmp': No space left on device; '${WORK}/run/checkpoint.safetensors' is unchanged")
expect_files(run ${always} checkpoint.safetensors)
sha(run checkpoint.safetensors now)
expect_equal("${now}" "${epoch1}" "checkpoint after a full disk")

# Killed during epoch 2's checkpoint write: epoch 1's checkpoint unchanged.
train(killed run "ONENIP_FAULT_WRITE=checkpoint:1000:kill" --resume)
expect_files(run ${always} checkpoint.safetensors checkpoint.safetensors.tmp)
sha(run checkpoint.safetensors now)
expect_equal("${now}" "${epoch1}" "checkpoint after a kill while writing the next one")

# SIGINT after global step 5 (epoch 3, step 1 of 2): a mid-epoch checkpoint, exit 130.
train(130 run "ONENIP_FAULT_STEP=5:INT" --resume)
expect("${err}" "stopped after global step 5: ${WORK}/run/checkpoint.safetensors written")
expect_files(run ${always} checkpoint.safetensors)
file(STRINGS ${WORK}/run/checkpoint.safetensors header LIMIT_COUNT 1 REGEX "epoch_position")
expect("${header}" "\"global_step\":\"5\"")

# Killed 100 bytes into the prompt pool, after the final checkpoint: that one is already final.
train(killed run "ONENIP_FAULT_WRITE=prompts:100:kill" --resume)
expect("${err}" "at epoch 3, global step 5")
expect_files(run ${always} checkpoint.safetensors prompts.safetensors.tmp)
sha(run checkpoint.safetensors now)
expect_equal("${now}" "${ref_ckpt}" "final checkpoint after the interruptions")

# The last resume has no epoch left: it writes the prompt pool, equal to the uninterrupted one.
train(0 run "" --resume)
expect_files(run ${always} checkpoint.safetensors prompts.safetensors)
sha(run checkpoint.safetensors now)
expect_equal("${now}" "${ref_ckpt}" "final checkpoint")
sha(run prompts.safetensors now)
expect_equal("${now}" "${ref_pool}" "prompt pool")

# SIGTERM from outside, once the first step is done: a checkpoint and exit 143.
string(JOIN " " cmd ${EXE} train ${flags} --epochs 1000 --out ${WORK}/term)
execute_process(COMMAND sh -c "${cmd} 2>${WORK}/term.err & pid=$!
  until grep -q 'epoch 1/1000 \\[' ${WORK}/term.err 2>/dev/null; do sleep 0.05; done
  kill -TERM $pid; wait $pid; echo $?" OUTPUT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
file(READ ${WORK}/term.err err)
expect_equal("${rc}" "143" "exit code after SIGTERM\n${err}")
expect("${err}" "stopped after global step")
expect_files(term ${always} checkpoint.safetensors)

# An unwritable run folder (root ignores permissions: the create fails by injection).
train(1 unwritable "ONENIP_FAULT_WRITE=config.json:0:eacces")
expect("${err}" "train: cannot create '${WORK}/unwritable/config.json.tmp' (to write '${WORK}/unwritable/config.json'): Permission denied")
message("killed runs: every interruption leaves whole files and resumes to the uninterrupted run's bytes")
