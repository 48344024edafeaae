# -Wall -Wextra -Werror everywhere; a few more that catch real bugs in C runtimes.
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
  -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wvla
  $<$<COMPILE_LANGUAGE:C>:-Wimplicit-fallthrough>)
# gcc 12 warns that TSan ignores standalone fences; weft's fences are Dekker
# store->load barriers between atomics, which TSan does not need to see.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  add_compile_options(-Wno-tsan)
endif()
