# cmake -P run_infer_zoo.cmake -DMODEL=NAME: bpr-prune writes an untrained zoo model pruned
# to 95% (no training: this checks the programs and the engine, not accuracy), bpr-infer
# compiles and runs it on LIMIT Fashion-MNIST test images; the engine must classify every
# image as the masked model's own eval forward does, and the JSON must list every layer.
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(COMMAND "${PRUNE}" --model ${MODEL} --train-epochs 0 --budget 95%
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
if(NOT test_accuracy STREQUAL masked_model_accuracy)
  message(FATAL_ERROR "${MODEL}: engine accuracy ${test_accuracy} differs from the masked "
                      "model's ${masked_model_accuracy}")
endif()
if(NOT layer_count EQUAL LAYERS)
  message(FATAL_ERROR "infer.json: ${layer_count} layers, expected ${MODEL}'s ${LAYERS}")
endif()
message(STATUS "${MODEL}: ${layer_count} layers, accuracy ${test_accuracy} on ${LIMIT} images "
               "(masked model ${masked_model_accuracy})")
