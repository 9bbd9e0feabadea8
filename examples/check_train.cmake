# CTest driver for `onenip train`'s flags (cmake -P script). EXE = the onenip program, WORK = scratch dir.
# The flags come from TrainConfig's field list; this checks that each still sets its field as
# docs/cli.md documents (--batch -> batch_size, --size -> model.image_size, negated --no-*
# flags, --seed -> both seeds, enum names), that flags override --config FILE while the file's
# other fields stay, and that bad values are refused with a message naming them.
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)

# expect_json(json key... value): fail unless the value at the keys is `value`.
function(expect_json json)
  set(keys ${ARGN})
  list(POP_BACK keys want)
  string(JSON got GET "${json}" ${keys})
  if(NOT got STREQUAL want)
    message(FATAL_ERROR "config.json: ${keys} is '${got}', expected '${want}'")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK})
run(0 demo --out ${WORK}/demo --dataset-only)
set(data ${WORK}/demo/data)

run(0 train --help)
foreach(flag --data --batch --size --enc-layers --dec-layers --hidden --decoder --dice --no-restoration --no-refiner
        --fixed-prompt --seed --config --resume --lr-gamma)
  expect("${out}" "${flag}")
endforeach()

file(WRITE ${WORK}/base.json [=[{"epochs": 3, "lr_gamma": 0.5, "workers": 1, "model": {"hidden": 64, "dropout": 0.0}}]=])
run(0 train --config ${WORK}/base.json --data ${data} --out ${WORK}/run --epochs 1 --max-steps 1 --batch 2 --size 64
    --enc-layers 1 --dec-layers 2 --hidden 32 --decoder static --dice paper --no-restoration --no-refiner
    --fixed-prompt --seed 5 --lr 0.002 --weight-decay 0.01 --clip 0.5 --lr-step 7 --save-every 1)
file(READ ${WORK}/run/config.json cfg)
expect_json("${cfg}" epochs 1)                 # the flag beats the file
expect_json("${cfg}" lr_gamma 0.5)             # the file beats the default
expect_json("${cfg}" workers 1)
expect_json("${cfg}" model dropout 0.0)
expect_json("${cfg}" model hidden 32)
expect_json("${cfg}" batch_size 2)
expect_json("${cfg}" max_steps 1)
expect_json("${cfg}" model image_size 64)
expect_json("${cfg}" model encoder_layers 1)
expect_json("${cfg}" model decoder_layers 2)
expect_json("${cfg}" model decoder static)
expect_json("${cfg}" model dice paper)
expect_json("${cfg}" model restoration OFF)    # cmake reads JSON false as OFF
expect_json("${cfg}" model refiner OFF)
expect_json("${cfg}" fixed_prompt ON)
expect_json("${cfg}" seed 5)
expect_json("${cfg}" model seed 5)
expect_json("${cfg}" lr 0.002)
expect_json("${cfg}" weight_decay 0.01)
expect_json("${cfg}" clip 0.5)
expect_json("${cfg}" lr_step 7)
expect_json("${cfg}" save_every 1)
string(JSON first GET "${cfg}" data 0)
expect_equal("${first}" "${data}" "data")

run(1 train --data ${data} --out ${WORK}/bad --decoder sideways)
expect("${err}" "decoder must be bidirectional, static or query; got 'sideways'")
file(WRITE ${WORK}/typo.json [=[{"model": {"hiden": 32}}]=])
run(1 train --config ${WORK}/typo.json --data ${data} --out ${WORK}/bad)
expect("${err}" "typo.json': config: unknown key 'model.hiden'")
file(WRITE ${WORK}/type.json [=[{"batch_size": "eight"}]=])
run(1 train --config ${WORK}/type.json --data ${data} --out ${WORK}/bad)
expect("${err}" "config: 'batch_size': must be an integer")
message("train: every flag sets its field, flags override --config, bad names and keys refused")
