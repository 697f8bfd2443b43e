# kvc_qwen3_cli_batch_prompts's check (included by tests/support/run_cli.cmake): the batch's stdout
# is, for each non-blank line of PROMPTS in order, "[i] " and exactly what a --prompt run of that
# line alone prints (SINGLE: that command line without --prompt, '|'-separated), so every prompt
# got the same greedy tokens in the batch as alone; and the forked prefix is stored once: the
# cache after forking holds no more than with the prefix in one sequence, less than the forks
# counted apart.
file(STRINGS "${PROMPTS}" lines)
string(REPLACE "|" ";" single "${SINGLE}")
set(expected "")
set(i 0)
foreach(line IN LISTS lines)
  if(NOT line MATCHES "[^ \t]")
    continue()
  endif()
  execute_process(COMMAND ${single} --prompt "${line}" RESULT_VARIABLE single_rc OUTPUT_VARIABLE single_out
                  ERROR_VARIABLE single_err)
  if(NOT single_rc EQUAL 0)
    kvc_check_fail("--prompt '${line}' exited with ${single_rc}: ${single_err}")
  endif()
  string(APPEND expected "[${i}] ${single_out}")
  math(EXPR i "${i} + 1")
endforeach()
if(NOT out STREQUAL expected)
  kvc_check_fail("the batch's replies differ from the prompts run alone:\nbatch:\n${out}\nalone:\n${expected}")
endif()
if(NOT err MATCHES "batch: ${i} prompts")
  kvc_check_fail("the summary does not report ${i} prompts")
endif()
if(NOT err MATCHES "'[^']*': ([0-9]+) B with the prefix in one sequence, ([0-9]+) B forked into [0-9]+ sequences \\(([0-9]+) B if each")
  kvc_check_fail("the summary does not report the cache footprints")
endif()
set(prefix_bytes ${CMAKE_MATCH_1})
set(forked_bytes ${CMAKE_MATCH_2})
set(apart_bytes ${CMAKE_MATCH_3})
if(forked_bytes GREATER prefix_bytes OR NOT forked_bytes LESS apart_bytes)
  kvc_check_fail("after forking the cache holds ${forked_bytes} B (prefix alone ${prefix_bytes} B, the forks "
                 "counted apart ${apart_bytes} B): the prefix is not shared")
endif()
