# Tests that are not one C file each.
if(NOT WEFT_SANITIZE)
  add_test(NAME install COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/install/install_test.sh
           ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(install PROPERTIES LABELS install TIMEOUT 120)
endif()

# F9 (reliability.md): io_uring forbidden by a seccomp filter. tests/seccomp/no_uring installs
# the filter (io_uring_setup/enter/register -> EPERM), drops WEFT_IO_BACKEND and execs its
# arguments. Every IO test - each test registered above as name@epoll - gets a twin
# name@no_uring run through it, so weft's own probe must fall back to epoll and the suite
# must pass; seccomp_fallback checks the one stderr line that fallback prints.
add_executable(weft_no_uring seccomp/no_uring.c)
add_executable(seccomp_fallback_check seccomp/fallback_check.c)
target_link_libraries(seccomp_fallback_check PRIVATE weft_test_harness)
get_directory_property(weft_all_tests TESTS)
foreach(t ${weft_all_tests})
  if(t MATCHES "^(.+)@epoll$")
    set(short ${CMAKE_MATCH_1})
  endif()
  if(t MATCHES "@epoll$" AND TARGET ${short}_test)
    get_test_property(${t} LABELS labels)
    list(APPEND labels seccomp)
    list(REMOVE_DUPLICATES labels)
    add_test(NAME ${short}@no_uring
             COMMAND weft_no_uring $<TARGET_FILE:${short}_test>)
    set_tests_properties(${short}@no_uring PROPERTIES LABELS "${labels}"
      TIMEOUT ${WEFT_TEST_TIMEOUT})
  endif()
endforeach()
add_test(NAME seccomp_launcher COMMAND weft_no_uring --check)
add_test(NAME seccomp_fallback COMMAND weft_no_uring $<TARGET_FILE:seccomp_fallback_check>)
set_tests_properties(seccomp_launcher seccomp_fallback PROPERTIES LABELS "io;seccomp"
  TIMEOUT ${WEFT_TEST_TIMEOUT})
