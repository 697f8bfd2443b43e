# Runs one command line and fails (a non-zero exit of this script) unless it behaved as expected.
#
# cmake -DKVC_CLI=<program|arg|arg...> [-DEXPECT_RC=0] [-DEXPECT_STDOUT=<exact text, no trailing newline>]
#       [-DEXPECT_STDOUT_REGEX=<re>] [-DEXPECT_STDERR_REGEX=<re>] [-DKVC_STDIN=<file>] [-DKVC_CHECK=<script.cmake>]
#       -P run_cli.cmake
#
# KVC_CLI separates the program and its arguments with '|' (a ';' list would not survive the
# trip through add_test). EXPECT_RC defaults to 0, so a test that uses this driver always checks the exit code (a
# PASS_REGULAR_EXPRESSION alone would make CTest ignore it). KVC_CHECK, when given, is included
# after the run to check files the command wrote; it sees every -D variable and calls
# kvc_check_fail(...) on a wrong value; kvc_check_range(what value lo hi) checks lo <= value <= hi,
# kvc_check_json_row(json row what policy rows) that the JSON array has `rows` rows and row `row`
# is policy `policy`, and kvc_unpack("a,b,c" x y z) sets x, y, z from a comma-separated tuple. The
# command's output is in `out` and `err`. KVC_STDIN, when given, is the file the command reads as stdin.
cmake_minimum_required(VERSION 3.25)

function(kvc_check_fail)
  string(JOIN "" text ${ARGN})
  message(FATAL_ERROR "${text}")
endfunction()

function(kvc_check_range what value lo hi)
  if(NOT value MATCHES "^-?[0-9.]+([eE][-+]?[0-9]+)?$" OR value LESS lo OR value GREATER hi)
    kvc_check_fail("${what} = ${value}, expected a number in [${lo}, ${hi}]")
  endif()
endfunction()

function(kvc_check_json_row json row what policy rows)
  string(JSON n LENGTH "${json}")
  if(NOT n EQUAL rows)
    kvc_check_fail("${what} has ${n} rows, expected ${rows}")
  endif()
  string(JSON got GET "${json}" ${row} policy)
  if(NOT got STREQUAL policy)
    kvc_check_fail("row ${row} of ${what} is '${got}', expected '${policy}'")
  endif()
endfunction()

function(kvc_unpack tuple)
  string(REPLACE "," ";" values "${tuple}")
  foreach(name value IN ZIP_LISTS ARGN values)
    set(${name} "${value}" PARENT_SCOPE)
  endforeach()
endfunction()

if(NOT DEFINED KVC_CLI)
  kvc_check_fail("run_cli.cmake: KVC_CLI (the command) is required")
endif()
if(NOT DEFINED EXPECT_RC)
  set(EXPECT_RC 0)
endif()

string(REPLACE "|" ";" command "${KVC_CLI}")
set(stdin_arg)
if(DEFINED KVC_STDIN)
  set(stdin_arg INPUT_FILE "${KVC_STDIN}")
endif()
execute_process(COMMAND ${command} ${stdin_arg} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("stdout:\n${out}\nstderr:\n${err}")
if(NOT rc STREQUAL EXPECT_RC)
  kvc_check_fail("exit code ${rc}, expected ${EXPECT_RC}")
endif()
if(DEFINED EXPECT_STDOUT)
  string(STRIP "${out}" got)
  if(NOT got STREQUAL EXPECT_STDOUT)
    kvc_check_fail("stdout is '${got}', expected '${EXPECT_STDOUT}'")
  endif()
endif()
if(DEFINED EXPECT_STDOUT_REGEX AND NOT out MATCHES "${EXPECT_STDOUT_REGEX}")
  kvc_check_fail("stdout does not match '${EXPECT_STDOUT_REGEX}'")
endif()
if(DEFINED EXPECT_STDERR_REGEX AND NOT err MATCHES "${EXPECT_STDERR_REGEX}")
  kvc_check_fail("stderr does not match '${EXPECT_STDERR_REGEX}'")
endif()
if(DEFINED KVC_CHECK)
  include("${KVC_CHECK}")
endif()
