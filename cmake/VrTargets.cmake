# Helpers shared by every project target: warnings (project code only), sanitizers, include root.

set(VR_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Wimplicit-fallthrough)
if(VR_WERROR)
  list(APPEND VR_WARNINGS -Werror)
endif()

if(VR_SANITIZE)
  # GCC 12's -Wmaybe-uninitialized misfires on libstdc++ (std::regex, std::function) under the
  # sanitizers' instrumentation; the release tree keeps the warning.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
                      -Wno-maybe-uninitialized)
  add_link_options(-fsanitize=address,undefined)
endif()

function(vr_target_defaults target)
  target_compile_options(${target} PRIVATE ${VR_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
endfunction()

# vr_library(NAME SRCS a.cc b.cc DEPS x y)
function(vr_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  vr_target_defaults(${name})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# vr_executable(NAME SRCS ... DEPS ...)
function(vr_executable name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  vr_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# Every test binary reuses one precompiled header of GoogleTest and the standard library: the
# tests are most of the build's compile time, and most of each test's is parsing these headers.
add_library(vr_test_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_stub.cc)
vr_target_defaults(vr_test_pch)
target_link_libraries(vr_test_pch PRIVATE GTest::gtest)
target_compile_options(vr_test_pch PRIVATE -Wno-array-bounds -Wno-stringop-overflow)
target_precompile_headers(vr_test_pch PRIVATE <gtest/gtest.h> <string> <vector> <map> <memory>
                          <functional> <chrono> <thread> <optional> <span> <cstdint> <cstring>)

# vr_test(NAME SRCS ... DEPS ... LABELS ... [TIMEOUT s]): a GoogleTest binary registered as one CTest test.
function(vr_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS;ARGS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  vr_target_defaults(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_precompile_headers(${name} REUSE_FROM vr_test_pch)
  # GCC 12 reports false -Warray-bounds/-Wstringop-overflow inside libstdc++'s string code once
  # it is inlined from a precompiled header; test code only.
  target_compile_options(${name} PRIVATE -Wno-array-bounds -Wno-stringop-overflow)
  add_test(NAME ${name} COMMAND ${name} ${ARG_ARGS})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT})
  if("asan" IN_LIST ARG_LABELS)
    set_property(GLOBAL APPEND PROPERTY VR_ASAN_TESTS ${name})
  endif()
endfunction()
