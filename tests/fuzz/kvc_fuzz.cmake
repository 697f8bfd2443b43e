# kvc_add_fuzz_target(): one libFuzzer harness -> a replay test everywhere, a libFuzzer run under clang.
include_guard(GLOBAL)
include(CheckCXXSourceCompiles)
include(CMakePushCheckState)

set(KVC_FUZZ_SECONDS 20 CACHE STRING "Seconds of each bounded libFuzzer run registered with CTest")
set(KVC_FUZZ_RUNS 5000000 CACHE STRING "Maximum executions of each bounded libFuzzer run")
set(KVC_FUZZ_MUTATIONS 10000 CACHE STRING "Deterministic mutations per corpus file in replay tests")
set(KVC_FUZZ_SEED 20261128 CACHE STRING "Seed of the replay tests' mutation stream")

set(kvc_fuzz_dir ${CMAKE_CURRENT_LIST_DIR})
set(kvc_fuzz_sanitize -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

# Which instrumentation this compiler offers (checked once per build dir).
cmake_push_check_state(RESET)
set(CMAKE_REQUIRED_QUIET ON)
string(REPLACE ";" " " CMAKE_REQUIRED_FLAGS "${kvc_fuzz_sanitize}")
check_cxx_source_compiles("int main() { return 0; }" KVC_HAVE_ASAN_UBSAN)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer,address,undefined")
  check_cxx_source_compiles([[
    #include <cstddef>
    #include <cstdint>
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }
  ]] KVC_HAVE_LIBFUZZER)
else()
  set(KVC_HAVE_LIBFUZZER OFF)
endif()
cmake_pop_check_state()
message(STATUS "kvc fuzz: sanitizers for replay drivers: ${KVC_HAVE_ASAN_UBSAN}; "
               "libFuzzer: ${KVC_HAVE_LIBFUZZER}")

# kvc_add_fuzz_target(name SOURCES harness.cpp [parser.cpp ...] CORPUS dir [DICT file] [LIBS ...]
#                     [MAX_LEN bytes])
#   SOURCES: the harness (defines extern "C" LLVMFuzzerTestOneInput, lets only kvc::error
#   escape) plus the parser's own .cpp files, compiled into the target so they get the
#   instrumentation (a prebuilt kvc::io would give libFuzzer no coverage of them).
#   Always builds ${name}_replay (the harness + replay_main.cpp, with ASan/UBSan when available)
#   and registers CTest test ${name}_replay (label fuzz): every CORPUS file plus
#   KVC_FUZZ_MUTATIONS deterministic mutations of each. Under clang with libFuzzer also builds
#   ${name} (-fsanitize=fuzzer,address,undefined) and registers ${name}_libfuzzer: a bounded run
#   (KVC_FUZZ_SECONDS, KVC_FUZZ_RUNS) that writes new inputs to a build-dir corpus, never to the
#   committed CORPUS, and crash artifacts to the build dir.
function(kvc_add_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS;DICT;MAX_LEN" "SOURCES;LIBS" ${ARGN})
  if(NOT F_SOURCES OR NOT F_CORPUS)
    message(FATAL_ERROR "kvc_add_fuzz_target(${name}): SOURCES and CORPUS are required")
  endif()
  if(NOT F_MAX_LEN)
    set(F_MAX_LEN 65536)
  endif()

  add_executable(${name}_replay ${F_SOURCES} ${kvc_fuzz_dir}/replay_main.cpp)
  target_link_libraries(${name}_replay PRIVATE kvc::kvc kvc_build_flags ${F_LIBS})
  if(KVC_HAVE_ASAN_UBSAN)
    target_compile_options(${name}_replay PRIVATE ${kvc_fuzz_sanitize})
    target_link_options(${name}_replay PRIVATE ${kvc_fuzz_sanitize})
  endif()
  add_test(NAME ${name}_replay
           COMMAND ${name}_replay --mutations ${KVC_FUZZ_MUTATIONS} --seed ${KVC_FUZZ_SEED}
                   --max-len ${F_MAX_LEN} ${F_CORPUS})
  set_tests_properties(${name}_replay PROPERTIES LABELS fuzz TIMEOUT 600
                       WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})

  if(KVC_HAVE_LIBFUZZER)
    add_executable(${name} ${F_SOURCES})
    target_link_libraries(${name} PRIVATE kvc::kvc kvc_build_flags ${F_LIBS})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined
                           -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    set(work ${CMAKE_CURRENT_BINARY_DIR}/${name}_corpus)
    file(MAKE_DIRECTORY ${work})
    set(dict_arg "")
    if(F_DICT)
      set(dict_arg -dict=${F_DICT})
    endif()
    math(EXPR timeout "${KVC_FUZZ_SECONDS} + 120")
    add_test(NAME ${name}_libfuzzer
             COMMAND ${name} -max_total_time=${KVC_FUZZ_SECONDS} -runs=${KVC_FUZZ_RUNS}
                     -max_len=${F_MAX_LEN} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
                     -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/${name}- ${dict_arg}
                     ${work} ${F_CORPUS})
    set_tests_properties(${name}_libfuzzer PROPERTIES LABELS fuzz TIMEOUT ${timeout}
                         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()
endfunction()
