# cmake -P run_infer.cmake: bpr-prune writes a 90% LeNet-5 sparse file, bpr-infer runs
# it on 2000 Fashion-MNIST test images; the JSON must hold the documented fields and the
# engine's accuracy must equal the masked model's own eval forward on the same images.
# Then --policy measured, and its recorded paths replayed with --paths.
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(COMMAND "${PRUNE}" --checkpoint "${CHECKPOINT}" --budget 90% --finetune-epochs 0
                        --no-eval --threads 1 --quiet --out "${OUT_DIR}/lenet.bprs"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-prune failed (${code}):\n${out}\n${err}")
endif()
execute_process(COMMAND "${INFER}" --sparse "${OUT_DIR}/lenet.bprs" --limit 2000
                        --latency-images 50 --batch 16 --threads 1 --json "${OUT_DIR}/infer.json"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}")
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-infer failed (${code}):\n${err}")
endif()
file(READ "${OUT_DIR}/infer.json" summary)
# string(JSON GET) reads a JSON null as "": the type says whether a number is there.
foreach(field test_accuracy masked_model_accuracy latency_ms_batch1 images_per_second
              buffer_bytes prediction_agreement)
  string(JSON type TYPE "${summary}" ${field})
  string(JSON value GET "${summary}" ${field})
  if(NOT type STREQUAL "NUMBER" OR value LESS_EQUAL 0)
    message(FATAL_ERROR "infer.json: ${field} is ${value} (${type})")
  endif()
  set(${field} ${value})
endforeach()
if(NOT prediction_agreement EQUAL 1)
  message(FATAL_ERROR "the engine predicts as the masked model on a fraction "
                      "${prediction_agreement} of the images, expected all")
endif()
if(NOT test_accuracy STREQUAL masked_model_accuracy)
  message(FATAL_ERROR "engine accuracy ${test_accuracy} differs from the masked model's "
                      "${masked_model_accuracy}")
endif()
if(test_accuracy LESS 0.5)
  message(FATAL_ERROR "accuracy ${test_accuracy} is too low for LeNet-5 at 90%")
endif()
string(JSON layer_count LENGTH "${summary}" layers)
if(NOT layer_count EQUAL 5)
  message(FATAL_ERROR "infer.json: ${layer_count} layers, expected LeNet-5's 5")
endif()
string(JSON kernel GET "${summary}" layers 0 kernel)
string(JSON density GET "${summary}" layers 0 density)
if(NOT (kernel STREQUAL "sparse" OR kernel STREQUAL "dense") OR density GREATER 1)
  message(FATAL_ERROR "infer.json: layer 0 has kernel '${kernel}', density ${density}")
endif()
# A timed kernel choice, then that choice replayed: the same kernels, the same accuracy.
execute_process(COMMAND "${INFER}" --sparse "${OUT_DIR}/lenet.bprs" --limit 500 --policy measured
                        --latency-images 5 --batch 16 --threads 1 --no-compare --quiet
                        --json "${OUT_DIR}/measured.json"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-infer --policy measured failed (${code}):\n${err}")
endif()
file(READ "${OUT_DIR}/measured.json" measured)
string(JSON measured_paths GET "${measured}" paths)
string(JSON measured_paths1 GET "${measured}" paths_batch1)
string(JSON measured_accuracy GET "${measured}" test_accuracy)
foreach(layer RANGE 4)
  string(JSON dense_type TYPE "${measured}" layers ${layer} dense_us)
  string(JSON sparse_type TYPE "${measured}" layers ${layer} sparse_us)
  if(NOT dense_type STREQUAL "NUMBER" OR NOT sparse_type STREQUAL "NUMBER")
    message(FATAL_ERROR "measured.json: layer ${layer} was not timed (dense_us ${dense_type}, "
                        "sparse_us ${sparse_type})")
  endif()
endforeach()
if(NOT measured_paths MATCHES "^[SD][SD][SD][SD][SD]$")
  message(FATAL_ERROR "measured.json: paths '${measured_paths}'")
endif()
execute_process(COMMAND "${INFER}" --sparse "${OUT_DIR}/lenet.bprs" --limit 500
                        --paths ${measured_paths} --paths-batch1 ${measured_paths1}
                        --latency-images 5 --batch 16 --threads 1
                        --no-compare --quiet --json "${OUT_DIR}/replayed.json"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-infer --paths ${measured_paths} failed (${code}):\n${err}")
endif()
file(READ "${OUT_DIR}/replayed.json" replayed)
string(JSON replayed_paths GET "${replayed}" paths)
string(JSON replayed_paths1 GET "${replayed}" paths_batch1)
string(JSON replayed_accuracy GET "${replayed}" test_accuracy)
if(NOT replayed_paths STREQUAL measured_paths OR NOT replayed_paths1 STREQUAL measured_paths1 OR
   NOT replayed_accuracy STREQUAL measured_accuracy)
  message(FATAL_ERROR "--paths ${measured_paths} --paths-batch1 ${measured_paths1} gave paths "
                      "${replayed_paths} / ${replayed_paths1}, accuracy ${replayed_accuracy} "
                      "(measured: ${measured_accuracy})")
endif()
# A file of another architecture must fail with a clear error, not a crash.
execute_process(COMMAND "${INFER}" --model resnet20 --sparse "${OUT_DIR}/lenet.bprs"
                        --no-compare --limit 10
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 1 OR NOT err MATCHES "lenet.bprs")
  message(FATAL_ERROR "bpr-infer on a wrong architecture: exit ${code}, message:\n${err}")
endif()
message(STATUS "test accuracy ${test_accuracy} (masked model ${masked_model_accuracy}), "
               "latency ${latency_ms_batch1} ms, ${images_per_second} images/s")
