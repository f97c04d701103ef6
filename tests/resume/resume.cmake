# Kill-and-resume test of bpr-regrow (issue 6): included from tests/integration.cmake.
# A small setting (3,000 Fashion-MNIST training images, iterative pruning in 5 rounds,
# 2 regrowth steps of 2 epochs), so that kills land in pruning, fine-tuning and
# regrowth, in well under a minute of CPU.
if(TARGET bpr_example_regrow AND EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  add_test(NAME "integration: bpr-regrow killed 6 times and resumed ends bit-identical"
           COMMAND ${CMAKE_COMMAND} -DREGROW=$<TARGET_FILE:bpr_example_regrow>
                   -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/kill_resume
                   -DKILLS=6 -DSEED=1
                   "-DARGS=--train-images 3000 --val 500 --test-images 1000 --prune iterative --fraction 0.7 --budget 99% --target 98% --steps 2 --finetune-epochs 2 --score-batches 2"
                   -P ${CMAKE_CURRENT_LIST_DIR}/kill_resume.cmake)
  set_tests_properties("integration: bpr-regrow killed 6 times and resumed ends bit-identical"
                       PROPERTIES LABELS "integration" RUN_SERIAL TRUE TIMEOUT 600)
endif()
