# cmake -P run.cmake: installs bpr from BINARY_DIR into a scratch prefix, then builds
# and runs the consumer project against it (MODE=install) or against the source tree
# through add_subdirectory (MODE=subdirectory).
set(work "${SCRATCH_DIR}/${MODE}")
file(REMOVE_RECURSE "${work}")
file(MAKE_DIRECTORY "${work}")

function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "step failed (${code}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

if(MODE STREQUAL "install")
  run_step(${CMAKE_COMMAND} --install "${BINARY_DIR}" --prefix "${work}/prefix")
  run_step(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${work}/build"
           -DCMAKE_PREFIX_PATH=${work}/prefix -DCMAKE_BUILD_TYPE=Release)
else()
  run_step(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${work}/build"
           -DBPR_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release)
endif()
run_step(${CMAKE_COMMAND} --build "${work}/build")
run_step("${work}/build/consumer")
