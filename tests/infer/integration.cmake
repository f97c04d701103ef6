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

# The paper's two other models through both programs (the engine lowers concat, MBConv,
# squeeze-excitation and depthwise layers): layer counts as infer.json lists them.
if(TARGET bpr_example_infer AND TARGET bpr_example_prune AND TARGET bpr_example_train
   AND EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  function(bpr_zoo_infer_test model budget layers limit)
    set(name "integration: bpr-train, bpr-prune and bpr-infer on a ${budget} ${model}")
    add_test(NAME "${name}"
             COMMAND ${CMAKE_COMMAND} -DTRAIN=$<TARGET_FILE:bpr_example_train>
                     -DPRUNE=$<TARGET_FILE:bpr_example_prune>
                     -DINFER=$<TARGET_FILE:bpr_example_infer> -DMODEL=${model}
                     -DBUDGET=${budget} -DLAYERS=${layers} -DLIMIT=${limit}
                     -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/integration_infer_${model}
                     -P ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/run_infer_zoo.cmake)
    set_tests_properties("${name}" PROPERTIES LABELS "integration" TIMEOUT 600)
  endfunction()
  # DenseNet-121 went through the three programs too (95%, 121 layers, 32 images) until
  # session 16: 51-70 s, the suite's longest test. Its concat blocks are covered by the
  # engine's unit tests (tests/infer/engine_test.cpp), the programs' path by the one below.
  # At 95% without fine-tuning, EfficientNet-B0 (1 epoch on 128 images) gave the same
  # logits on every image, matched exactly (difference 0): nothing was being compared,
  # so it is pruned to 50%.
  bpr_zoo_infer_test(efficientnet_b0 50% 49 200)
endif()
