# Kill-and-resume tests of bpr-regrow and bpr-train (issue 6): included from
# tests/integration.cmake. Each kills its program KILLS times (SIGKILL) and resumes it;
# the final output must be byte-identical to an uninterrupted run's. Both use one thread,
# so ctest may run them side by side (their kill times scale with the measured run time).
function(bpr_kill_resume_test program_kind target kills args)
  if(NOT TARGET ${target} OR NOT EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
    return()
  endif()
  set(name "integration: bpr-${program_kind} killed ${kills} times and resumed ends bit-identical")
  string(TOUPPER ${program_kind} variable)
  add_test(NAME "${name}"
           COMMAND ${CMAKE_COMMAND} -D${variable}=$<TARGET_FILE:${target}>
                   -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/kill_resume_${program_kind}
                   -DKILLS=${kills} -DSEED=1 "-DARGS=${args}"
                   -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/kill_resume.cmake)
  set_tests_properties("${name}" PROPERTIES LABELS "integration" TIMEOUT 600)
endfunction()

# bpr-regrow: a small setting (3,000 Fashion-MNIST training images, iterative pruning in
# 5 rounds, 2 regrowth steps of 2 epochs, each step dropping 20% of the alive weights
# before it grows), so that kills land in pruning, fine-tuning and regrowth, in well under
# a minute of CPU.
bpr_kill_resume_test(regrow bpr_example_regrow 6
  "--train-images 3000 --val 500 --test-images 1000 --prune iterative --fraction 0.7 --budget 99% --target 98% --steps 2 --finetune-epochs 2 --score-batches 2 --exchange 0.2")

# bpr-train: LeNet-5 on 6,000 Fashion-MNIST images for 6 epochs (under a second each),
# with a validation split so that the best epoch is carried across kills, and crop, flip
# and cutout, whose draws must continue where they stopped.
bpr_kill_resume_test(train bpr_example_train 4
  "--train-images 6000 --val 1000 --test-images 2000 --epochs 6 --augment --cutout 8")
