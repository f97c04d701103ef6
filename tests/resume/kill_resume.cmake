# Kill-and-resume of bpr-regrow or bpr-train: one uninterrupted run as the reference,
# then the same run killed (SIGKILL, at a random moment of each child's life) KILLS
# times and resumed each time, then run to its end. bpr-regrow: the final model file
# must be byte-equal and the trajectory and summary equal except for wall times.
# bpr-train: the final checkpoint must be byte-equal and the summary's test accuracy,
# validation accuracy and best epoch equal.
#
#   cmake -DREGROW=path/to/bpr-regrow | -DTRAIN=path/to/bpr-train  -DOUT_DIR=dir
#         [-DKILLS=20] [-DMIN_SECONDS=2 -DMAX_SECONDS=30] [-DSEED=1] [-DARGS="--flag value ..."]
#         [-DREFERENCE_DIR=dir] -P kill_resume.cmake
#
# REFERENCE_DIR: the output folder of an uninterrupted run started separately (e.g. at the
# same time, to halve the wall time); the comparison waits for its summary.json.
#
# CMake's execute_process TIMEOUT kills the child and its children with SIGKILL (no
# handler can run), which is what a crash, the OOM killer or a power cut does to the
# process. Every run uses --threads 1 (bit-identity is promised for a fixed thread count).

if(DEFINED REGROW AND NOT DEFINED TRAIN)
  set(program "${REGROW}")
  set(kind regrow)
  set(state_name state.ckpt)  # bpr-regrow's resume state inside its --out folder
elseif(DEFINED TRAIN AND NOT DEFINED REGROW)
  set(program "${TRAIN}")
  set(kind train)
  set(state_name model.ckpt)  # bpr-train's --out file, which it resumes from
else()
  message(FATAL_ERROR "kill_resume.cmake: give exactly one of -DREGROW=... and -DTRAIN=...")
endif()
if(NOT DEFINED OUT_DIR)
  message(FATAL_ERROR "kill_resume.cmake: -DOUT_DIR=... is required")
endif()
if(NOT DEFINED KILLS)
  set(KILLS 20)
endif()
if(NOT DEFINED SEED)
  set(SEED 1)
endif()
separate_arguments(extra_args UNIX_COMMAND "${ARGS}")
set(common ${extra_args} --threads 1 --quiet)

# The flags that make a run write into `dir` (and resume from it if `resuming`).
function(output_args dir resuming out)
  if(kind STREQUAL "regrow")
    set(args --out "${dir}")
    if(resuming)
      list(APPEND args --resume)  # bpr-regrow starts afresh when there is no state yet
    endif()
  else()
    set(args --out "${dir}/${state_name}" --json "${dir}/summary.json")
    if(resuming AND EXISTS "${dir}/${state_name}")
      list(APPEND args --resume "${dir}/${state_name}")
    endif()
  endif()
  set(${out} ${args} PARENT_SCOPE)
endfunction()

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
file(MAKE_DIRECTORY "${OUT_DIR}" "${killed_dir}")

if(DEFINED REFERENCE_DIR)
  set(reference_dir "${REFERENCE_DIR}")
  set(reference_ms "(separate)")
else()
  set(reference_dir "${OUT_DIR}/reference")
  file(REMOVE_RECURSE "${reference_dir}")
  now_ms(start)
  file(MAKE_DIRECTORY "${reference_dir}")
  output_args("${reference_dir}" FALSE reference_args)
  execute_process(COMMAND "${program}" ${common} ${reference_args}
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
set(state "${killed_dir}/${state_name}")
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
  output_args("${killed_dir}" TRUE killed_args)
  execute_process(COMMAND "${program}" ${common} ${killed_args}
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
  output_args("${killed_dir}" TRUE killed_args)
  execute_process(COMMAND "${program}" ${common} ${killed_args}
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
if(kind STREQUAL "regrow")
  set(binary_name model.bprs)
else()
  set(binary_name ${state_name})
endif()
file(SHA256 "${reference_dir}/${binary_name}" reference_hash)
file(SHA256 "${killed_dir}/${binary_name}" killed_hash)
if(NOT reference_hash STREQUAL killed_hash)
  string(APPEND differences " ${binary_name}")
endif()
if(kind STREQUAL "regrow")
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
else()
  # bpr-train's summary also holds this process's own history and speed, which differ.
  file(READ "${reference_dir}/summary.json" expected)
  file(READ "${killed_dir}/summary.json" actual)
  foreach(member test_accuracy val_accuracy best_epoch)
    foreach(side expected actual)
      string(JSON ${side}_value ERROR_VARIABLE missing GET "${${side}}" ${member})
      if(missing)
        message(FATAL_ERROR "the ${side} summary.json has no '${member}': ${missing}")
      endif()
    endforeach()
    if(NOT expected_value STREQUAL actual_value)
      string(APPEND differences " summary.json:${member} (${expected_value} vs ${actual_value})")
    endif()
  endforeach()
endif()
if(differences)
  message(FATAL_ERROR "after ${kills} kills the resumed run differs from the uninterrupted "
                      "one in:${differences}")
endif()
message(STATUS "kill-and-resume: ${kills} kills (${progressed} of the killed children had written "
               "newer checkpoints), ${resumes} resumes from a checkpoint, every resume "
               "succeeded, final ${binary_name} "
               "byte-identical (sha256 ${killed_hash}), reports equal; "
               "uninterrupted ${reference_ms} ms, killed and resumed ${killed_ms} ms in total")
