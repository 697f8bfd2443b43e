# kvc_qwen3_eval_cli's check (included by tests/support/run_cli.cmake): the JSON file RESULT has
# the baseline row and one per policy (full:bf16, full:f16), each scoring TOKENS tokens; full:bf16
# equals the full:bf16 baseline (KL 0, top-1 agreement 1), full:f16 is close to it; the plot PLOT
# was written.
file(READ "${RESULT}" result)
# row, policy, largest kl_mean, smallest top1_agreement
foreach(expect IN ITEMS "0,full:bf16,0,1" "1,full:bf16,0,1" "2,full:f16,1e-3,0.9")
  kvc_unpack("${expect}" row policy kl_hi top1_lo)
  kvc_check_json_row("${result}" ${row} "${RESULT}" ${policy} 3)
  string(JSON scored GET "${result}" ${row} tokens_scored)
  if(NOT scored EQUAL TOKENS)
    kvc_check_fail("row ${row} scored ${scored} tokens, expected ${TOKENS}")
  endif()
  string(JSON kl GET "${result}" ${row} kl_mean)
  kvc_check_range("row ${row} (${policy}) kl_mean" "${kl}" 0 ${kl_hi})
  string(JSON top1 GET "${result}" ${row} top1_agreement)
  kvc_check_range("row ${row} (${policy}) top1_agreement" "${top1}" ${top1_lo} 1)
endforeach()
if(NOT EXISTS "${PLOT}")
  kvc_check_fail("the plot ${PLOT} was not written")
endif()
