# The libFuzzer target for the request path (tests/http/fuzz/fuzz_http1.c), built with clang
# whatever compiler builds the rest (libFuzzer is clang's), from the module's sources, llhttp
# and the buffer driver - no libweft needed (the target provides weft_now). Registered as the
# CTest test http_fuzz (label http): 20 s or 50,000 runs over a fresh copy of the seed corpus.
# Skipped with a note when clang or its libFuzzer runtime is missing.
find_program(WEFT_CLANG NAMES clang clang-16 clang-15 clang-14)
set(WEFT_HTTP_CORPUS /work/shared/corpus CACHE PATH "Seed corpus folder (http1/ and http.dict)")
if(NOT WEFT_CLANG)
  message(STATUS "http fuzz target: clang not found, not built")
  return()
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -E echo "int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }"
  OUTPUT_FILE ${CMAKE_CURRENT_BINARY_DIR}/fuzz_probe.c)
execute_process(COMMAND ${WEFT_CLANG} -fsanitize=fuzzer ${CMAKE_CURRENT_BINARY_DIR}/fuzz_probe.c
                        -o ${CMAKE_CURRENT_BINARY_DIR}/fuzz_probe
                RESULT_VARIABLE fuzz_probe_rc OUTPUT_QUIET ERROR_QUIET)
if(NOT fuzz_probe_rc EQUAL 0)
  message(STATUS "http fuzz target: clang has no libFuzzer runtime, not built")
  return()
endif()

set(fuzz_src
  ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_http1.c ${CMAKE_CURRENT_SOURCE_DIR}/drive.c
  ${WEFT_REPO_DIR}/apps/httpd/http_parse.c ${WEFT_REPO_DIR}/apps/httpd/http_resp.c
  ${WEFT_REPO_DIR}/apps/httpd/http_conn.c ${WEFT_REPO_DIR}/apps/httpd/files.c
  ${WEFT_REPO_DIR}/apps/httpd/files_util.c
  ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c ${LLHTTP_SOURCE_DIR}/llhttp.c)
set(fuzz_bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz_http1)
add_custom_command(OUTPUT ${fuzz_bin}
  COMMAND ${WEFT_CLANG} -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined
          -fno-sanitize-recover=undefined -D_GNU_SOURCE -DLLHTTP_STRICT_MODE=1 -w
          -I${WEFT_REPO_DIR}/include -I${WEFT_REPO_DIR}/apps/httpd -I${CMAKE_CURRENT_SOURCE_DIR}
          -I${LLHTTP_INCLUDE_DIR} ${fuzz_src} -o ${fuzz_bin}
  DEPENDS ${fuzz_src} ${WEFT_REPO_DIR}/apps/httpd/http_conn.h ${WEFT_REPO_DIR}/apps/httpd/http.h
          ${WEFT_REPO_DIR}/apps/httpd/files.h ${CMAKE_CURRENT_SOURCE_DIR}/drive.h
  COMMENT "Building the libFuzzer target fuzz_http1 (clang)" VERBATIM)
add_custom_target(fuzz_http1 ALL DEPENDS ${fuzz_bin})

if(EXISTS ${WEFT_HTTP_CORPUS}/http1)
  add_test(NAME http_fuzz
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run_fuzz.sh ${fuzz_bin} ${WEFT_HTTP_CORPUS}
            ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/regressions ${CMAKE_CURRENT_BINARY_DIR}/fuzz-run)
  set_tests_properties(http_fuzz PROPERTIES LABELS "http;fuzz" TIMEOUT 180)
endif()
