# WEFT_SANITIZE=address  -> AddressSanitizer + UndefinedBehaviorSanitizer (leak check on)
# WEFT_SANITIZE=thread   -> ThreadSanitizer
if(WEFT_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -DWEFT_SANITIZE_ADDRESS=1)
  add_link_options(-fsanitize=address,undefined)
elseif(WEFT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -DWEFT_SANITIZE_THREAD=1)
  add_link_options(-fsanitize=thread)
elseif(WEFT_SANITIZE)
  message(FATAL_ERROR "WEFT_SANITIZE must be address or thread, not '${WEFT_SANITIZE}'")
endif()
