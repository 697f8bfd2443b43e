# kvc_bench_compare_plan's check (included by tests/support/run_cli.cmake): RESULT holds two rows,
# the plan:FILE run and full:bf16 on the same three layers. The plan's layers are one quant, one
# sparse and one full layer, so its run moves bytes host→device (the sparse layer), holds fewer
# device bytes per token than full bf16 (quant and sparse) and keeps a finite, small error.
file(READ "${RESULT}" json)
kvc_check_json_row("${json}" 0 "${RESULT}" "${PLAN_SPEC}" 2)
kvc_check_json_row("${json}" 1 "${RESULT}" "full:bf16" 2)
string(JSON plan_device GET "${json}" 0 device_bytes_per_token)
string(JSON full_device GET "${json}" 1 device_bytes_per_token)
string(JSON h2d GET "${json}" 0 h2d_bytes_per_step)
string(JSON err GET "${json}" 0 attn_rel_error)
string(JSON ratio GET "${json}" 0 compression_ratio)
if(NOT plan_device LESS full_device)
  kvc_check_fail("the plan holds ${plan_device} device bytes per token, full bf16 ${full_device}: expected fewer")
endif()
kvc_check_range("the plan's host->device bytes per step" "${h2d}" 1 1e12)
kvc_check_range("the plan's attention error" "${err}" 1e-6 0.5)
kvc_check_range("the plan's compression ratio" "${ratio}" 1.2 100)
