# CTest driver for the command line's bad-input matrix (cmake -P script). EXE = the onenip
# program, WORK = scratch dir. A tiny run (64 px, one step) is trained on the demo's dataset;
# then every bad flag, run folder, weights file and data folder below must make the command exit
# with an error code (not crash), with a message naming the flag, file or class and what is
# wrong, and leave the run folder byte for byte as it was (refuse, check_helpers.cmake). The
# library-level cases (image, mask, safetensors, checkpoint and dataset files) are in tests/.
include(${CMAKE_CURRENT_LIST_DIR}/check_helpers.cmake)

file(REMOVE_RECURSE ${WORK})
run(0 demo --out ${WORK}/demo --dataset-only)
set(data ${WORK}/demo/data)
set(run ${WORK}/run)
set(image ${data}/disc/test/good/000.png)
set(small --hidden 32 --enc-layers 1 --dec-layers 1 --workers 1 --max-steps 1)
run(0 train --data ${data} --out ${run} ${small} --epochs 1 --batch 2 --size 64)

# Flags: unknown ones, and values out of range, checked from the config's field list before
# anything is written (the new run folder is never created).
set(new --data ${data} --out ${WORK}/new ${small})
refuse(SAYS "--bogus" ARGS train ${new} --bogus 3)
refuse(SAYS "train: epochs (--epochs) must be at least 1, got 0" ARGS train ${new} --epochs 0)
refuse(SAYS "train: batch_size (--batch) must be at least 1, got 0" ARGS train ${new} --batch 0)
refuse(SAYS "train: model.image_size (--size) must be a multiple of 16" "got 100" ARGS train ${new} --size 100)
refuse(SAYS "train: model.image_size (--size) must be at least 64, got 48" ARGS train ${new} --size 48)
refuse(SAYS "train: model.dropout (--dropout) must be in [0, 1), got 1" ARGS train ${new} --dropout 1)
refuse(SAYS "train: lr (--lr) must be greater than 0, got -0.1" ARGS train ${new} --lr -0.1)
refuse(SAYS "--batch: Value 0 not in range 1 to 65536" ARGS infer --checkpoint ${run} --out ${WORK}/new --batch 0 ${image})
refuse(SAYS "train: epochs (--epochs) must be at least 1, got 0" ARGS demo --out ${WORK}/new --epochs 0)
refuse(SAYS "--count: Value 0 not in range 1 to 1000" ARGS synth --data ${data} --count 0 --out ${WORK}/new/grid.png)
refuse(SAYS "--percentile: Value 150 not in range 0" ARGS calibrate --checkpoint ${run} --data ${data} --percentile 150)
if(EXISTS ${WORK}/new)
  message(FATAL_ERROR "a refused command created its output folder ${WORK}/new")
endif()

# Run folders: without a checkpoint, with a truncated one.
file(MAKE_DIRECTORY ${WORK}/no_checkpoint)
file(COPY ${run}/prompts.safetensors ${run}/config.json DESTINATION ${WORK}/no_checkpoint)
foreach(args "eval;--data;${data}" "infer;--out;${WORK}/new;${image}")
  refuse(SAYS "detector: no checkpoint.safetensors in '${WORK}/no_checkpoint'" KEEPS ${WORK}/no_checkpoint
         ARGS ${args} --checkpoint ${WORK}/no_checkpoint)
endforeach()
file(COPY ${run}/ DESTINATION ${WORK}/cut)
file(SIZE ${run}/checkpoint.safetensors bytes)
math(EXPR cut_at "${bytes} - 100")
execute_process(COMMAND truncate -s ${cut_at} ${WORK}/cut/checkpoint.safetensors COMMAND_ERROR_IS_FATAL ANY)
refuse(SAYS "safetensors '${WORK}/cut/checkpoint.safetensors', tensor '" "(truncated file?)" KEEPS ${WORK}/cut
       ARGS eval --checkpoint ${WORK}/cut --data ${data})

# Backbone weights: truncated, or another network's tensors (the run's own checkpoint).
file(COPY_FILE ${run}/checkpoint.safetensors ${WORK}/weights.safetensors)
execute_process(COMMAND truncate -s 1000 ${WORK}/weights.safetensors COMMAND_ERROR_IS_FATAL ANY)
refuse(SAYS "safetensors '${WORK}/weights.safetensors': header length" "runs past the end of the 1000-byte file" KEEPS ${run}
       ARGS eval --checkpoint ${run} --data ${data} --weights ${WORK}/weights.safetensors)
refuse(SAYS "MobileNetV2: the weights in '${run}/checkpoint.safetensors' do not fit the network" "missing tensor(s): conv_stem.weight"
       KEEPS ${run} ARGS infer --checkpoint ${run} --out ${WORK}/new --weights ${run}/checkpoint.safetensors ${image})

# Resuming a checkpoint of another configuration or backbone: every differing field named.
set(resume train --resume --data ${data} --out ${run} --enc-layers 1 --dec-layers 1 --workers 1 --max-steps 1 --epochs 2 --batch 2 --size 64)
refuse(SAYS "checkpoint '${run}/checkpoint.safetensors' holds another model than this run's configuration"
       "model.hidden (--hidden): 32 in the checkpoint, 64 now" KEEPS ${run} ARGS ${resume} --hidden 64)
refuse(SAYS "backbone (--backbone): \"mobilenetv2\" in the checkpoint, \"efficientnet-b4\" now"
       "model.feature_channels: 168 in the checkpoint, 272 now" KEEPS ${run} ARGS ${resume} --hidden 32 --backbone efficientnet-b4)

# Data: a root with no classes and a mask of another size than its image are refused; a class whose test split has one label only is
# evaluated, its metrics n/a with the reason beside the table.
file(MAKE_DIRECTORY ${WORK}/no_classes/sub)
refuse(SAYS "dataset: no classes in '${WORK}/no_classes'" KEEPS ${run}
       ARGS eval --checkpoint ${run} --data ${WORK}/no_classes --out ${WORK}/new)
file(COPY ${data}/disc DESTINATION ${WORK}/wrong_mask)
run(0 synth --data ${data} --count 1 --out ${WORK}/wrong_mask/disc/ground_truth/blob/000_mask.png)  # not 128 x 128
refuse(SAYS "dataset: mask '${WORK}/wrong_mask/disc/ground_truth/blob/000_mask.png' is " "but its image '" KEEPS ${run}
       ARGS eval --checkpoint ${run} --data ${WORK}/wrong_mask --out ${WORK}/new)
file(COPY ${data}/disc/train DESTINATION ${WORK}/one_label/disc)
file(COPY ${data}/disc/test/good DESTINATION ${WORK}/one_label/disc/test)
run(0 eval --checkpoint ${run} --data ${WORK}/one_label --out ${WORK}/one_label_eval)
expect("${out}" "| disc | n/a |")
expect("${out}" "n/a for disc: AUROC is undefined: all 10 samples are normal (label 0)")
file(READ ${WORK}/one_label_eval/metrics.json metrics)
string(JSON auroc TYPE "${metrics}" classes 0 image_auroc)
expect_equal("${auroc}" "NULL" "metrics.json: the type of the undefined image AUROC of a one-label class")
if(EXISTS ${WORK}/new)
  message(FATAL_ERROR "a refused command created its output folder ${WORK}/new")
endif()
message("bad input: flags, run folders, weights, resumed configurations and data folders refused by name, nothing changed")
