# Driver of the packaging test (cmake -P): install kvc, build and run a consumer against the
# install, then check that a wrong version and a missing component are refused.
cmake_minimum_required(VERSION 3.25)
set(build ${KVC_SCRATCH}/kvc-build)
set(prefix ${KVC_SCRATCH}/prefix)
file(REMOVE_RECURSE ${KVC_SCRATCH})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# 1. Configure, build and install kvc (the library only, CPU-only).
function(install_kvc build_dir install_prefix cuda)
  run(${CMAKE_COMMAND} -S ${KVC_SOURCE_DIR} -B ${build_dir} -DCMAKE_BUILD_TYPE=Release
      -DCMAKE_CXX_COMPILER=${KVC_CXX_COMPILER} -DCMAKE_INSTALL_PREFIX=${install_prefix}
      -DKVC_BUILD_TESTS=OFF -DKVC_BUILD_EXAMPLES=OFF -DKVC_BUILD_BENCHMARKS=OFF
      -DKVC_ENABLE_CUDA=${cuda})
  run(${CMAKE_COMMAND} --build ${build_dir} -j2)
  run(${CMAKE_COMMAND} --install ${build_dir})
endfunction()
install_kvc(${build} ${prefix} OFF)
foreach(f kvcConfig.cmake kvcConfigVersion.cmake kvcTargets.cmake)
  file(GLOB_RECURSE found ${prefix}/*/${f})
  if(NOT found)
    message(FATAL_ERROR "install is missing ${f}")
  endif()
endforeach()
if(NOT EXISTS ${prefix}/include/kvc/cache.hpp)
  message(FATAL_ERROR "install is missing the headers")
endif()

# 2. A CXX-only consumer finds kvc, builds, runs and prints the marker.
function(configure_consumer dir version components result)
  if(ARGN)
    set(prefix ${ARGN})
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/consumer -B ${dir}
                  -DCMAKE_CXX_COMPILER=${KVC_CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
                  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
                  "-DKVC_VERSION_SPEC=${version}" "-DKVC_COMPONENTS=${components}"
                  -DKVC_EXPECTED_PREFIX=${prefix}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${result} ${rc} PARENT_SCOPE)
  set(consumer_log "${out}\n${err}" PARENT_SCOPE)
endfunction()

configure_consumer(${KVC_SCRATCH}/consumer "0.1" "" rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer configure failed:\n${consumer_log}")
endif()
run(${CMAKE_COMMAND} --build ${KVC_SCRATCH}/consumer)
run(${KVC_SCRATCH}/consumer/kvc_consumer)
if(NOT last_output MATCHES "kvc-ok")
  message(FATAL_ERROR "consumer did not print kvc-ok:\n${last_output}")
endif()
message(STATUS "consumer output: ${last_output}")
run(${KVC_SCRATCH}/consumer/kvc_consumer_compiled_policies)
if(NOT last_output MATCHES "kvc-ok")
  message(FATAL_ERROR "consumer linking kvc::policies did not print kvc-ok:\n${last_output}")
endif()

# 3. Negative cases: an impossible version, and the cuda component on a CPU-only install.
configure_consumer(${KVC_SCRATCH}/consumer-v99 "99" "" rc)
if(rc EQUAL 0)
  message(FATAL_ERROR "find_package(kvc 99) succeeded against version 0.x")
endif()
configure_consumer(${KVC_SCRATCH}/consumer-cuda "0.1" "cuda" rc)
if(rc EQUAL 0)
  message(FATAL_ERROR "find_package(kvc COMPONENTS cuda) succeeded on a CPU-only install")
endif()

# 4. With a CUDA compiler: an install with kvc::cuda satisfies COMPONENTS cuda, and a CXX-only
#    consumer links it.
if(KVC_CUDA_ENABLED)
  install_kvc(${KVC_SCRATCH}/kvc-build-cuda ${KVC_SCRATCH}/prefix-cuda ON)
  configure_consumer(${KVC_SCRATCH}/consumer-with-cuda "0.1" "cuda" rc ${KVC_SCRATCH}/prefix-cuda)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "find_package(kvc COMPONENTS cuda) failed on a CUDA install:\n${consumer_log}")
  endif()
  run(${CMAKE_COMMAND} --build ${KVC_SCRATCH}/consumer-with-cuda)
  run(${KVC_SCRATCH}/consumer-with-cuda/kvc_consumer)
endif()
message(STATUS "package test passed")
