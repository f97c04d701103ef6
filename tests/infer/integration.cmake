# bpr-infer end to end (label integration): prune the committed LeNet-5 checkpoint to 90%
# with bpr-prune (no fine-tuning), run bpr-infer on the sparse file, check its JSON.
# Included from tests/CMakeLists.txt; needs the examples and the Debian Fashion-MNIST.
if(TARGET bpr_example_infer AND TARGET bpr_example_prune
   AND EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  add_test(NAME "integration: bpr-infer on a 90% LeNet-5"
           COMMAND ${CMAKE_COMMAND} -DPRUNE=$<TARGET_FILE:bpr_example_prune>
                   -DINFER=$<TARGET_FILE:bpr_example_infer>
                   -DCHECKPOINT=${PROJECT_SOURCE_DIR}/models/lenet5-fashion-mnist.ckpt
                   -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/integration_infer
                   -P ${CMAKE_CURRENT_LIST_DIR}/run_infer.cmake)
  set_tests_properties("integration: bpr-infer on a 90% LeNet-5"
                       PROPERTIES LABELS "integration" TIMEOUT 600)
endif()
