# Kill-and-resume of bpr-regrow: one uninterrupted run as the reference, then the same
# run killed (SIGKILL, at a random moment of each child's life) KILLS times and resumed
# with --resume each time, then run to its end; the final model file must be byte-equal
# and the trajectory and summary equal except for wall times.
#
#   cmake -DREGROW=path/to/bpr-regrow -DOUT_DIR=dir [-DKILLS=20] [-DMIN_SECONDS=2
#         -DMAX_SECONDS=30] [-DSEED=1] [-DARGS="--flag value ..."]
#         [-DREFERENCE_DIR=dir] -P kill_resume.cmake
#
# REFERENCE_DIR: the --out of an uninterrupted run started separately (e.g. at the same
# time, to halve the wall time); the comparison waits for its summary.json.
#
# CMake's execute_process TIMEOUT kills the child and its children with SIGKILL (no
# handler can run), which is what a crash, the OOM killer or a power cut does to the
# process. Every run uses --threads 1 (bit-identity is promised for a fixed thread count).

foreach(required REGROW OUT_DIR)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "kill_resume.cmake: -D${required}=... is required")
  endif()
endforeach()
if(NOT DEFINED KILLS)
  set(KILLS 20)
endif()
if(NOT DEFINED SEED)
  set(SEED 1)
endif()
separate_arguments(extra_args UNIX_COMMAND "${ARGS}")
set(common ${extra_args} --threads 1 --quiet)

function(now_ms out)
  string(TIMESTAMP seconds "%s")
  string(TIMESTAMP micro "%f")
  math(EXPR ms "${seconds} * 1000 + ${micro} / 1000")
  set(${out} ${ms} PARENT_SCOPE)
endfunction()

# A kill time in [min_ms, min_ms + span_ms) (set below), as text with milliseconds.
string(RANDOM LENGTH 1 ALPHABET 0 RANDOM_SEED ${SEED} unused)
function(kill_time out)
  string(RANDOM LENGTH 6 ALPHABET 0123456789 digits)
  string(REGEX REPLACE "^0+([0-9])" "\\1" digits "${digits}")
  math(EXPR ms "${min_ms} + ${digits} * ${span_ms} / 1000000")
  math(EXPR whole "${ms} / 1000")
  math(EXPR frac "${ms} % 1000")
  string(LENGTH "${frac}" digits_in_frac)
  if(digits_in_frac EQUAL 1)
    set(frac "00${frac}")
  elseif(digits_in_frac EQUAL 2)
    set(frac "0${frac}")
  endif()
  set(${out} "${whole}.${frac}" PARENT_SCOPE)
endfunction()

set(killed_dir "${OUT_DIR}/killed")
file(REMOVE_RECURSE "${killed_dir}")
file(MAKE_DIRECTORY "${OUT_DIR}")

if(DEFINED REFERENCE_DIR)
  set(reference_dir "${REFERENCE_DIR}")
  set(reference_ms "(separate)")
else()
  set(reference_dir "${OUT_DIR}/reference")
  file(REMOVE_RECURSE "${reference_dir}")
  now_ms(start)
  execute_process(COMMAND "${REGROW}" ${common} --out "${reference_dir}"
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  now_ms(stop)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "uninterrupted run failed (${result}):\n${output}\n${errors}")
  endif()
  math(EXPR reference_ms "${stop} - ${start}")
endif()
message(STATUS "uninterrupted run: ${reference_ms} ms")

# Kill times: MIN_SECONDS..MAX_SECONDS if given; otherwise 0.5-1.5 times the
# uninterrupted run's duration / KILLS, so that the KILLS kills spread over the whole
# run on a fast machine as on a slow one (fixed times of 1-6 s missed most of a
# 3-second run on an idle machine).
if(DEFINED MIN_SECONDS AND DEFINED MAX_SECONDS)
  math(EXPR min_ms "${MIN_SECONDS} * 1000")
  math(EXPR span_ms "${MAX_SECONDS} * 1000 - ${min_ms}")
elseif(NOT DEFINED REFERENCE_DIR)
  math(EXPR min_ms "${reference_ms} / (2 * ${KILLS})")
  math(EXPR span_ms "${reference_ms} / ${KILLS}")
else()
  message(FATAL_ERROR "kill_resume.cmake: with REFERENCE_DIR, give MIN_SECONDS and MAX_SECONDS")
endif()
message(STATUS "kill times: ${min_ms} ms + up to ${span_ms} ms")

# Killed and resumed.
set(kills 0)
set(finished FALSE)
set(resume_log "")
now_ms(start)
set(resumes 0)
set(progressed 0)
set(state "${killed_dir}/state.ckpt")
while(kills LESS KILLS)
  kill_time(after)
  # What the child starts from, and whether it wrote a newer checkpoint before its kill
  # (its own output is lost with the kill: stdout to a pipe is block-buffered).
  set(before "none")
  set(where "started afresh (no checkpoint yet)")
  if(EXISTS "${state}")
    file(SHA256 "${state}" before)
    set(where "resumed from a checkpoint")
    math(EXPR resumes "${resumes} + 1")
  endif()
  execute_process(COMMAND "${REGROW}" ${common} --resume --out "${killed_dir}"
                  TIMEOUT ${after}
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  set(after_hash "none")
  if(EXISTS "${state}")
    file(SHA256 "${state}" after_hash)
  endif()
  if(NOT before STREQUAL after_hash)
    math(EXPR progressed "${progressed} + 1")
    string(APPEND where ", wrote newer checkpoints")
  else()
    string(APPEND where ", no newer checkpoint")
  endif()
  if(result EQUAL 0)
    message(STATUS "run ${kills}: finished before its kill at ${after} s; ${where}")
    set(finished TRUE)
    break()
  elseif(result MATCHES "timeout")
    math(EXPR kills "${kills} + 1")
    message(STATUS "kill ${kills} after ${after} s; that run had ${where}")
  else()
    message(FATAL_ERROR "a resumed run failed (${result}) instead of being killed:\n"
                        "${output}\n${errors}")
  endif()
endwhile()
if(NOT finished)
  execute_process(COMMAND "${REGROW}" ${common} --resume --out "${killed_dir}"
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
  string(REGEX MATCH "resumed from [^\n]*" where "${output}")
  math(EXPR resumes "${resumes} + 1")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "the last resume failed (${result}):\n${output}\n${errors}")
  endif()
  message(STATUS "final run: ${where}")
endif()
now_ms(stop)
math(EXPR killed_ms "${stop} - ${start}")

# Comparison: the model file byte for byte; the reports without their wall times.
while(NOT EXISTS "${reference_dir}/summary.json")
  message(STATUS "waiting for the uninterrupted run in ${reference_dir}")
  execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 20)
endwhile()
set(differences "")
file(SHA256 "${reference_dir}/model.bprs" reference_hash)
file(SHA256 "${killed_dir}/model.bprs" killed_hash)
if(NOT reference_hash STREQUAL killed_hash)
  string(APPEND differences " model.bprs")
endif()
function(without_seconds file out)
  file(READ "${file}" text)
  # CSV: the last column; JSON: every "seconds" member.
  string(REGEX REPLACE ",[^,\n]*\n" ",\n" text "${text}")
  string(REGEX REPLACE "\"seconds\": *[-0-9.eE+]+" "\"seconds\": -" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
foreach(name trajectory.csv trajectory.json summary.json)
  without_seconds("${reference_dir}/${name}" expected)
  without_seconds("${killed_dir}/${name}" actual)
  if(NOT expected STREQUAL actual)
    string(APPEND differences " ${name}")
  endif()
endforeach()
if(differences)
  message(FATAL_ERROR "after ${kills} kills the resumed run differs from the uninterrupted "
                      "one in:${differences}")
endif()
message(STATUS "kill-and-resume: ${kills} kills (${progressed} of the killed children had written "
               "newer checkpoints), ${resumes} resumes from a checkpoint, every resume "
               "succeeded, final model.bprs "
               "byte-identical (sha256 ${killed_hash}), trajectory and summary equal; "
               "uninterrupted ${reference_ms} ms, killed and resumed ${killed_ms} ms in total")
