# Checks that every C++ (```cpp) block of a guide appears in the example it narrates, with
# `//` comments and whitespace ignored, so the guide cannot drift from the example (the
# example itself is compiled by the build). Usage:
#   cmake -DGUIDE=docs/guide.md -DEXAMPLE=examples/example.cpp -P guide_code.cmake

cmake_minimum_required(VERSION 3.20)

foreach(input GUIDE EXAMPLE)
  if(NOT EXISTS "${${input}}")
    message(FATAL_ERROR "guide_code.cmake: ${input} '${${input}}' does not exist")
  endif()
endforeach()

# Line comments and all whitespace removed: formatting may differ, code may not.
function(bpr_code_only text out)
  string(REGEX REPLACE "//[^\n]*" "" text "${text}")
  string(REGEX REPLACE "[ \t\r\n]+" "" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

file(READ "${GUIDE}" guide)
file(READ "${EXAMPLE}" example)
bpr_code_only("${example}" example_code)

set(fence_open "```cpp\n")
string(LENGTH "${fence_open}" open_length)
set(blocks 0)
set(stale 0)
while(TRUE)
  string(FIND "${guide}" "${fence_open}" start)
  if(start EQUAL -1)
    break()
  endif()
  math(EXPR start "${start} + ${open_length}")
  string(SUBSTRING "${guide}" ${start} -1 guide)
  string(FIND "${guide}" "```" end)
  if(end EQUAL -1)
    message(FATAL_ERROR "${GUIDE}: a ```cpp block is never closed")
  endif()
  string(SUBSTRING "${guide}" 0 ${end} block)
  string(SUBSTRING "${guide}" ${end} -1 guide)
  string(SUBSTRING "${guide}" 3 -1 guide)
  math(EXPR blocks "${blocks} + 1")
  bpr_code_only("${block}" block_code)
  string(FIND "${example_code}" "${block_code}" found)
  if(found EQUAL -1)
    math(EXPR stale "${stale} + 1")
    message(SEND_ERROR "${GUIDE}: code block ${blocks} is not in ${EXAMPLE}:\n${block}")
  endif()
endwhile()

if(blocks EQUAL 0)
  message(FATAL_ERROR "${GUIDE}: no ```cpp block found")
endif()
if(stale GREATER 0)
  message(FATAL_ERROR "${stale} of ${blocks} code blocks of ${GUIDE} differ from ${EXAMPLE}")
endif()
message(STATUS "all ${blocks} code blocks of ${GUIDE} are in ${EXAMPLE}")
