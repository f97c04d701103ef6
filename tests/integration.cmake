# Tests that exercise the package as a whole (installed and as a subproject).
foreach(mode install subdirectory)
  add_test(NAME "package: consumer via ${mode}"
           COMMAND ${CMAKE_COMMAND} -DMODE=${mode} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                   -DBINARY_DIR=${PROJECT_BINARY_DIR}
                   -DSCRATCH_DIR=${CMAKE_CURRENT_BINARY_DIR}/consumer
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/consumer/run.cmake)
  set_tests_properties("package: consumer via ${mode}" PROPERTIES LABELS "package")
endforeach()
