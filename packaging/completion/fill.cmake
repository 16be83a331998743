# cmake -DCHARTSYNC=PROGRAM -DTEMPLATE=chartsync.bash.in -DOUT=FILE -P fill.cmake
# Puts `PROGRAM __complete` (one command line per line) into the template
# as @CHARTSYNC_LISTING@, a single-quoted bash string.
execute_process(COMMAND ${CHARTSYNC} __complete
                OUTPUT_VARIABLE CHARTSYNC_LISTING
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR CHARTSYNC_LISTING STREQUAL "")
  message(FATAL_ERROR "'${CHARTSYNC} __complete' failed (${rc}): no listing for the completion")
endif()
string(FIND "${CHARTSYNC_LISTING}" "'" quote)
if(NOT quote EQUAL -1)
  message(FATAL_ERROR "'chartsync __complete' printed a ' : it cannot go in a single-quoted bash string")
endif()
string(REGEX REPLACE "\n$" "" CHARTSYNC_LISTING "${CHARTSYNC_LISTING}")
configure_file(${TEMPLATE} ${OUT} @ONLY)
