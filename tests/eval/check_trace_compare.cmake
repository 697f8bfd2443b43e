# kvc_bench_compare_trace_cli's check (included by tests/support/run_cli.cmake): the JSON file
# RESULT has a full:f32 and a full:bf16 row with CONTEXT tokens before the decode steps and an
# error per layer (LAYERS); full:f32 matches the f64 oracle to f32 rounding (≤ 1e-5, overall and
# per layer), full:bf16 shows bf16 rounding (in [1e-5, 1e-2]); both attend everything (recall null).
file(READ "${RESULT}" result)
# row, policy, bounds of attn_rel_error
foreach(expect IN ITEMS "0,full:f32,0,1e-5" "1,full:bf16,1e-5,1e-2")
  kvc_unpack("${expect}" row policy lo hi)
  kvc_check_json_row("${result}" ${row} "${RESULT}" ${policy} 2)
  string(JSON context GET "${result}" ${row} context)
  if(NOT context EQUAL CONTEXT)
    kvc_check_fail("${policy}: context ${context}, expected ${CONTEXT}")
  endif()
  string(JSON error GET "${result}" ${row} attn_rel_error)
  kvc_check_range("${policy} attn_rel_error" "${error}" ${lo} ${hi})
  string(JSON layers LENGTH "${result}" ${row} layer_attn_rel_error)
  if(NOT layers EQUAL LAYERS)
    kvc_check_fail("${policy}: ${layers} per-layer errors, expected ${LAYERS}")
  endif()
  math(EXPR last "${layers} - 1")
  foreach(l RANGE ${last})
    string(JSON error GET "${result}" ${row} layer_attn_rel_error ${l})
    kvc_check_range("${policy} layer ${l} attn_rel_error" "${error}" 0 ${hi})
  endforeach()
  string(JSON recall TYPE "${result}" ${row} mass_recall)
  if(NOT recall STREQUAL "NULL")
    kvc_check_fail("${policy}: mass_recall should be null (it attends every token)")
  endif()
endforeach()
