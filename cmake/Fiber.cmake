# Fiber build options (src/fiber). Include this at the END of the top-level CMakeLists.txt,
# after add_subdirectory(tests), so the targets it touches exist:
#   include(cmake/Fiber.cmake)
#
# WEFT_FIBER_VALGRIND  register fiber stacks with Valgrind (VALGRIND_STACK_REGISTER), so
#                      memcheck follows stack switches. On by default; it needs only
#                      <valgrind/valgrind.h> at build time (package valgrind or
#                      valgrind-dev... Debian ships it in `valgrind`) and costs a few no-op
#                      instructions per stack mapping when not running under Valgrind. Without
#                      the header the code compiles it out by itself (__has_include).
# ASan and TSan fiber annotations need no option: they follow WEFT_SANITIZE
# (cmake/Sanitizers.cmake defines WEFT_SANITIZE_ADDRESS / WEFT_SANITIZE_THREAD).
option(WEFT_FIBER_VALGRIND "Register fiber stacks with Valgrind when valgrind.h exists" ON)
if(NOT WEFT_FIBER_VALGRIND)
  target_compile_definitions(weft_objs PRIVATE WEFT_FIBER_VALGRIND=0)
endif()

# `make test` runs the fiber suite under memcheck too (plain builds only: sanitizers and
# Valgrind do not mix). The epoll backend: Valgrind 3.19 does not model io_uring.
find_program(WEFT_VALGRIND_EXE valgrind)
if(WEFT_BUILD_TESTS AND WEFT_FIBER_VALGRIND AND WEFT_VALGRIND_EXE AND NOT WEFT_SANITIZE
   AND TARGET fiber_basic_test)
  foreach(t fiber_basic fiber_cancel fiber_migrate)
    add_test(NAME ${t}@valgrind
      COMMAND ${WEFT_VALGRIND_EXE} -q --error-exitcode=9 --exit-on-first-error=yes
              $<TARGET_FILE:${t}_test>)
    set_tests_properties(${t}@valgrind PROPERTIES LABELS "integ;valgrind" TIMEOUT 300
      ENVIRONMENT "WEFT_IO_BACKEND=epoll;WEFT_TEST_SCALE=0.1")
  endforeach()
endif()
