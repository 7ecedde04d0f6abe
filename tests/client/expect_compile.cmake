# cmake -DCXX=... -DSTD=... -DINC=... -DSRC=... -DCASE=... -DEXPECT=pass|fail [-DREGEX=...] -P
# Compiles SRC with -DZCP_CASE_<CASE> (syntax only). EXPECT=fail: the compiler must refuse it,
# and its diagnostics must match REGEX (so that it fails for the reason under test).
execute_process(COMMAND ${CXX} -std=${STD} -fsyntax-only -I${INC} -DZCP_CASE_${CASE} ${SRC}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(EXPECT STREQUAL "pass")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "case ${CASE} must compile but does not:\n${err}")
  endif()
else()
  if(rc EQUAL 0)
    message(FATAL_ERROR "case ${CASE} must not compile, but it does")
  endif()
  if(DEFINED REGEX AND NOT err MATCHES "${REGEX}")
    message(FATAL_ERROR "case ${CASE} fails to compile, but not for the expected reason (${REGEX}):\n${err}")
  endif()
  message(STATUS "case ${CASE} is refused as expected")
endif()
