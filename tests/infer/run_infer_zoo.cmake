# cmake -P run_infer_zoo.cmake -DMODEL=NAME: bpr-train trains a zoo model for one epoch on
# 128 Fashion-MNIST images (enough for real batchnorm statistics and non-zero logits; an
# untrained EfficientNet-B0 outputs all-zero logits, which any engine would match),
# bpr-prune prunes it to BUDGET without fine-tuning, bpr-infer compiles and runs it on LIMIT
# test images: the engine must predict as the masked model's own eval forward on every
# image, with logits within 1e-4 of the largest, and the JSON must list every layer.
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(COMMAND "${TRAIN}" --model ${MODEL} --train-images 128 --test-images 32
                        --epochs 1 --threads 2 --quiet --out "${OUT_DIR}/${MODEL}.ckpt"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-train --model ${MODEL} failed (${code}):\n${out}\n${err}")
endif()
execute_process(COMMAND "${PRUNE}" --model ${MODEL} --checkpoint "${OUT_DIR}/${MODEL}.ckpt"
                        --budget ${BUDGET}
                        --finetune-epochs 0 --no-eval --threads 2 --quiet
                        --out "${OUT_DIR}/${MODEL}.bprs"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-prune --model ${MODEL} failed (${code}):\n${out}\n${err}")
endif()
execute_process(COMMAND "${INFER}" --model ${MODEL} --sparse "${OUT_DIR}/${MODEL}.bprs"
                        --limit ${LIMIT} --latency-images 5 --batch 16 --threads 2
                        --json "${OUT_DIR}/infer.json"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}")
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-infer --model ${MODEL} failed (${code}):\n${err}")
endif()
file(READ "${OUT_DIR}/infer.json" summary)
string(JSON model GET "${summary}" model)
string(JSON test_accuracy GET "${summary}" test_accuracy)
string(JSON masked_model_accuracy GET "${summary}" masked_model_accuracy)
string(JSON layer_count LENGTH "${summary}" layers)
if(NOT model STREQUAL MODEL)
  message(FATAL_ERROR "infer.json: model '${model}', expected '${MODEL}'")
endif()
string(JSON agreement GET "${summary}" prediction_agreement)
string(JSON logit_error GET "${summary}" max_logit_relative_error)
string(JSON error_type TYPE "${summary}" max_logit_relative_error)
string(JSON largest_logit GET "${summary}" max_abs_logit)
if(NOT largest_logit GREATER 1e-3)
  message(FATAL_ERROR "${MODEL}: the largest logit is ${largest_logit}: nothing to compare")
endif()
if(NOT agreement EQUAL 1 OR NOT error_type STREQUAL "NUMBER" OR logit_error GREATER 1e-4)
  message(FATAL_ERROR "${MODEL}: the engine predicts as the masked model on a fraction "
                      "${agreement} of the images, largest logit difference ${logit_error} "
                      "(${error_type}) of the largest logit; expected 1 and <= 1e-4")
endif()
if(NOT layer_count EQUAL LAYERS)
  message(FATAL_ERROR "infer.json: ${layer_count} layers, expected ${MODEL}'s ${LAYERS}")
endif()
message(STATUS "${MODEL}: ${layer_count} layers, accuracy ${test_accuracy} on ${LIMIT} images "
               "(masked model ${masked_model_accuracy}), logit error ${logit_error}")
