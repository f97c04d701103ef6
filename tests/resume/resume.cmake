# Kill-and-resume tests of bpr-regrow and bpr-train (issue 6): included from tests/integration.cmake.
# bpr-regrow: a small setting (3,000 Fashion-MNIST training images, iterative pruning in 5 rounds,
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

# The same for bpr-train: LeNet-5 on 6,000 Fashion-MNIST images for 6 epochs (under a
# second each), with a validation split so that the best epoch is carried across kills.
if(TARGET bpr_example_train AND EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  add_test(NAME "integration: bpr-train killed 4 times and resumed ends bit-identical"
           COMMAND ${CMAKE_COMMAND} -DTRAIN=$<TARGET_FILE:bpr_example_train>
                   -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/kill_resume_train
                   -DKILLS=4 -DSEED=1
                   "-DARGS=--train-images 6000 --val 1000 --test-images 2000 --epochs 6"
                   -P ${CMAKE_CURRENT_LIST_DIR}/kill_resume.cmake)
  set_tests_properties("integration: bpr-train killed 4 times and resumed ends bit-identical"
                       PROPERTIES LABELS "integration" RUN_SERIAL TRUE TIMEOUT 600)
endif()
