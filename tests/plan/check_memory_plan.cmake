# kvc_plan_t1's check (included by tests/support/run_cli.cmake): RESULT is kvc-plan's JSON for t1
# (3 layers, 2 KV heads of 32, bf16), 2 sequences of 1000 tokens, full:bf16 and
# quant:k=2,v=2,group=32 on a 1 MiB and a 1 GB device. Every figure below is counted by hand.
file(READ "${RESULT}" json)
string(JSON rows LENGTH "${json}" rows)
if(NOT rows EQUAL 4)
  kvc_check_fail("expected 4 rows (2 policies x 2 devices), got ${rows}")
endif()
function(expect row key want)
  string(JSON got GET "${json}" rows ${row} ${ARGN} ${key})
  if(NOT "${got}" STREQUAL "${want}")
    kvc_check_fail("row ${row} ${ARGN} ${key}: ${got}, counted by hand ${want}")
  endif()
endfunction()
# full bf16: a token's K and V take 2 x 2 heads x 32 x 2 B = 256 B; 1000 tokens fill 4 pages of
# 256 tokens = 262,144 B per sequence and layer; x 2 sequences x 3 layers
expect(0 device_bytes 1572864 kv_held)
expect(0 metadata_bytes 0 kv_held)
expect(0 host_bytes 0 kv_held)
expect(0 window_bytes 0 kv_held)
# activations of a 2048-token chunk: (3 x 64 + 2 x 128 + 2 x 64 + 2 x 128) x 2048 x 4 B, the
# predicted query row 128 x 4, the positions 2048 x 4 and one logits row of 128 x 4
expect(0 activations 6824960)
expect(0 fits OFF)
expect(0 max_context 0)
expect(0 max_batch 0)
expect(1 fits ON)
# 1 GB less weights (328,960) and activations leaves 330,948,693 B per layer: 128 single pages of
# 64 KiB, then 2 MiB slabs of 32 pages: 128 + 153 x 32 = 5024 pages = 2 x 2512 pages of 256 tokens
expect(1 max_context 643072)
# quant 2-bit, G = 32, R = 128: 1000 = 27 blocks (864 tokens) + 136 exact; a block is 2 heads x
# (256 B key codes + 256 B value codes + 128 B key scale/min + 128 B value scale/min) = 1536 B, in
# one 1024-token chunk of 32 blocks (49,152 B); the ring holds R + G = 160 rows of 2 x 2 x 32 x 2 B
# = 40,960 B; (49,152 + 40,960) x 6 = 540,672. Scales and mins: 27 x 512 B x 6 = 82,944.
expect(2 device_bytes 540672 kv_held)
expect(2 metadata_bytes 82944 kv_held)
# of the device bytes, the ring is the full-precision window: 40,960 x 6 = 245,760
expect(2 window_bytes 245760 kv_held)
expect(3 fits ON)
