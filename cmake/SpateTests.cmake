# spate_add_cmocka_test(SOURCE <file> LABELS <labels...> [TIMEOUT s])
#
# Builds one test program from SOURCE (plus tests/unit/test_main.c) and
# registers one ctest entry per cmocka case: the case names are read from
# the `cmocka_unit_test*(name` entries of the source, and each entry runs the
# program with the case name as its only argument (see test_main.h).
function(spate_add_cmocka_test)
  cmake_parse_arguments(T "" "SOURCE;TIMEOUT" "LABELS" ${ARGN})
  get_filename_component(name ${T_SOURCE} NAME_WE)
  get_filename_component(dir ${T_SOURCE} DIRECTORY)
  get_filename_component(group ${dir} NAME)
  set(exe "${group}_${name}")
  add_executable(${exe} ${T_SOURCE} ${PROJECT_SOURCE_DIR}/tests/unit/test_main.c
                        ${PROJECT_SOURCE_DIR}/tests/unit/test_util.c)
  target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${exe} PRIVATE spate_static cmocka)
  file(READ ${T_SOURCE} text)
  # re-read the case list whenever the source changes
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${T_SOURCE})
  string(REGEX MATCHALL "cmocka_unit_test[a-z_]*\\([ \t\r\n]*[A-Za-z0-9_]+" cases "${text}")
  if(NOT cases)
    message(FATAL_ERROR "${T_SOURCE}: no cmocka_unit_test entries found")
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  foreach(c ${cases})
    string(REGEX REPLACE ".*\\([ \t\r\n]*" "" case "${c}")
    add_test(NAME ${group}.${name}.${case} COMMAND ${exe} ${case})
    set_tests_properties(${group}.${name}.${case} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
                         ENVIRONMENT "SPATE_BUILD_DIR=${PROJECT_BINARY_DIR};SPATE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  endforeach()
endfunction()
