# Tests that exercise the package as a whole (installed and as a subproject).
foreach(mode install subdirectory)
  add_test(NAME "package: consumer via ${mode}"
           COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DBINARY_DIR=${PROJECT_BINARY_DIR}
                   -DSCRATCH_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.cmake)
  set_tests_properties("package: consumer via ${mode}" PROPERTIES LABELS "package")
endforeach()

# One short end-to-end run on real data (needs the Debian data set and the examples).
if(TARGET bpr_example_regrow AND EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  add_test(NAME "e2e: bpr-regrow on Fashion-MNIST, 99.5% -> 99%"
           COMMAND ${CMAKE_COMMAND} -DREGROW=$<TARGET_FILE:bpr_example_regrow>
                   -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/e2e_regrow
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/e2e/run_regrow.cmake)
  set_tests_properties("e2e: bpr-regrow on Fashion-MNIST, 99.5% -> 99%"
                       PROPERTIES LABELS "e2e" RUN_SERIAL TRUE TIMEOUT 900)
endif()

# Kill-and-resume of bpr-regrow (issue 6).
include(${CMAKE_CURRENT_SOURCE_DIR}/resume/resume.cmake)

# bpr-infer on a sparse file written by bpr-prune (issue 5).
include(${CMAKE_CURRENT_SOURCE_DIR}/infer/integration.cmake)

# The checkpoint's record of its validation split, from bpr-train to bpr-prune.
if(TARGET bpr_example_train AND TARGET bpr_example_prune
   AND EXISTS /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz)
  add_test(NAME "integration: bpr-prune keeps the split bpr-train recorded"
           COMMAND ${CMAKE_COMMAND} -DTRAIN=$<TARGET_FILE:bpr_example_train>
                   -DPRUNE=$<TARGET_FILE:bpr_example_prune>
                   -DOUT_DIR=${CMAKE_CURRENT_BINARY_DIR}/integration_split_record
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/io/split_record.cmake)
  set_tests_properties("integration: bpr-prune keeps the split bpr-train recorded"
                       PROPERTIES LABELS "integration" TIMEOUT 600)
endif()
