# cmake -P run_regrow.cmake: one short bidirectional run of bpr-regrow on the real
# Fashion-MNIST (Debian's dataset-fashion-mnist) from the committed LeNet-5 checkpoint,
# then checks its summary: the run must end at the target sparsity, above chance, and
# the regrowth step must revive what it asked for and, with its fine-tune epoch, gain
# accuracy over the pruned start (measured: 49.8% -> 79.1%).
file(REMOVE_RECURSE "${OUT_DIR}")
execute_process(COMMAND "${REGROW}" --prune one_shot --budget 99.5% --target 99% --steps 1
                        --finetune-epochs 1
                        --prune-finetune-epochs 1 --threads 2 --seed 1 --quiet --out "${OUT_DIR}"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}")
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-regrow failed (${code}):\n${err}")
endif()
foreach(f trajectory.csv trajectory.json trajectory.svg model.bprs summary.json)
  if(NOT EXISTS "${OUT_DIR}/${f}")
    message(FATAL_ERROR "bpr-regrow did not write ${f}")
  endif()
endforeach()
file(READ "${OUT_DIR}/summary.json" summary)
string(JSON final_sparsity GET "${summary}" final_sparsity)
string(JSON final_accuracy GET "${summary}" final_accuracy)
string(JSON pruned_accuracy GET "${summary}" pruned_accuracy)
message(STATUS "final sparsity ${final_sparsity}, pruned accuracy ${pruned_accuracy}, "
               "final accuracy ${final_accuracy}")
if(final_sparsity LESS 0.9895 OR final_sparsity GREATER 0.9905)
  message(FATAL_ERROR "final sparsity ${final_sparsity} is not the 99% target")
endif()
if(final_accuracy LESS 0.5)
  message(FATAL_ERROR "final accuracy ${final_accuracy} is too low for LeNet-5 at 99%")
endif()
# The one regrowth step must revive exactly what it asked for, and the step with its
# fine-tune epoch must end above the pruned start.
string(JSON requested GET "${summary}" regrowth 0 requested)
string(JSON grown GET "${summary}" regrowth 0 grown)
if(NOT grown EQUAL requested OR NOT grown GREATER 0)
  message(FATAL_ERROR "the regrowth step revived ${grown} weights, asked for ${requested}")
endif()
if(NOT final_accuracy GREATER pruned_accuracy)
  message(FATAL_ERROR "regrowth and its fine-tune epoch gained nothing: ${pruned_accuracy} "
                      "pruned, ${final_accuracy} final")
endif()
