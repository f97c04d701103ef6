# Compile-fail tests: each tests/failtest/<case>.cpp must fail to compile with the
# readable static_assert message given below, and compile with -DBPR_FAILTEST_OK (the
# correct composition), so the failure is the intended one and not a typo.
# Included from tests/CMakeLists.txt:  include(${CMAKE_CURRENT_SOURCE_DIR}/failtest/failtest.cmake)
set(bpr_failtest_dir ${CMAKE_CURRENT_LIST_DIR})
set(bpr_failtest_cases
    "pipeline_order|the first stage must prune to the budget"
    "pipeline_missing_regrow|the third stage must regrow"
    "score_criterion|S must be a regrowth score"
    "regrow_init|Init must satisfy bpr::regrow_init"
    "pipeline_n_of_m|cannot be regrown, a revived weight could break the N:M pattern")

foreach(entry IN LISTS bpr_failtest_cases)
  string(FIND "${entry}" "|" bar)
  string(SUBSTRING "${entry}" 0 ${bar} case)
  math(EXPR message_start "${bar} + 1")
  string(SUBSTRING "${entry}" ${message_start} -1 message)
  foreach(variant IN ITEMS fail ok)
    set(target bpr_failtest_${case}_${variant})
    add_executable(${target} EXCLUDE_FROM_ALL ${bpr_failtest_dir}/${case}.cpp)
    target_link_libraries(${target} PRIVATE bpr::bpr bpr_project_options)
    # Only the front end's verdict matters: -O0 skips the optimiser's work on the "ok" case.
    target_compile_options(${target} PRIVATE -O0)
    if(variant STREQUAL "ok")
      target_compile_definitions(${target} PRIVATE BPR_FAILTEST_OK)
    endif()
    add_test(NAME "failtest: ${case} (${variant})"
             COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target ${target} --config $<CONFIG>)
    set_tests_properties("failtest: ${case} (${variant})" PROPERTIES LABELS "failtest"
                         RESOURCE_LOCK bpr_failtest_build)
  endforeach()
  # The wrong composition must fail with the message; the right one must build.
  set_tests_properties("failtest: ${case} (fail)" PROPERTIES PASS_REGULAR_EXPRESSION "${message}")
endforeach()
