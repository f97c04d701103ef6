# cmake -P split_record.cmake: bpr-train records its validation split and normalization
# in the checkpoint; bpr-prune, started from it, must carve the same split (whatever its
# --seed), and say so, and warn when flags ask for a different split.
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(COMMAND "${TRAIN}" --model lenet5 --epochs 1 --val 500
                        --val-seed 3 --seed 5 --threads 1 --quiet --out "${OUT_DIR}/dense.ckpt"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
  message(FATAL_ERROR "bpr-train failed (${code}):\n${out}\n${err}")
endif()

function(run_prune expect)
  execute_process(COMMAND "${PRUNE}" --checkpoint "${OUT_DIR}/dense.ckpt" --budget 90%
                          --finetune-epochs 0 --no-eval --threads 1 --quiet ${ARGN}
                  RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "bpr-prune ${ARGN} failed (${code}):\n${out}\n${err}")
  endif()
  string(FIND "${out}" "${expect}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "bpr-prune ${ARGN}: expected '${expect}' in its output:\n${out}")
  endif()
  set(prune_output "${out}" PARENT_SCOPE)
endfunction()

# A different --seed: the split is still the checkpoint's, without a note.
run_prune("validation split: 500 of 60000 training images, seed 3 (as ${OUT_DIR}/dense.ckpt records it); normalization as the checkpoint records it"
          --seed 2)
string(FIND "${prune_output}" "note:" at)
if(NOT at EQUAL -1)
  message(FATAL_ERROR "unexpected note for the checkpoint's own split:\n${prune_output}")
endif()
# An explicit --val-seed wins, with a note that names both splits.
run_prune("seed 4 (as the flags ask)" --val-seed 4)
string(FIND "${prune_output}" "is not the one ${OUT_DIR}/dense.ckpt was trained without (500 of 60000, seed 3)" at)
if(at EQUAL -1)
  message(FATAL_ERROR "no note for a split that is not the checkpoint's:\n${prune_output}")
endif()
