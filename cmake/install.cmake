# Install and package. `cmake --install build --prefix P` (or `make install
# PREFIX=P`) installs:
#   bin/            diroute, zcp, zcp-top (when built), zcp-perf
#   include/zcp/    the public client headers (zcp/zcp.hpp, zcp/ipc/broadcast_hub.hpp, ...)
#                   and the C ABI (zcp/zcp.h)
#   lib/            libzcp.so (SONAME libzcp.so.<major>) and libzcp.a: the client library,
#                   with the market-data API (zcp::ipc), the C ABI and everything they use
#                   inside
#   lib/cmake/zerocp/   find_package(zerocp): zerocp::zcp (shared), zerocp::zcp_static, and
#                   zerocp::zcp_c (libzcp.so for C programs: no C++ standard required)
#   lib/pkgconfig/zerocp.pc   pkg-config zerocp [--static] (C++), zerocp-c (C)
#   share/doc/zerocp/diroute.toml   the example config (= diroute --print-default-config)
#   lib/systemd/system/diroute@.service   one unit per instance
#
# The installed libraries are linked from the object files the build already made for the
# in-tree libraries (every object is position-independent: CMAKE_POSITION_INDEPENDENT_CODE),
# so installing recompiles nothing. In-tree, libzcp stays a static library of its own.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(zcp_install_parts zcp zcp_ipc zcp_capi zcp_protocol zcp_shm zcp_common)
foreach(part IN LISTS zcp_install_parts)
  if(NOT TARGET ${part})
    message(STATUS "install: ${part} is not built here; the client libraries are not installed")
    return()
  endif()
endforeach()
set(zcp_install_objects "")
foreach(part IN LISTS zcp_install_parts)
  list(APPEND zcp_install_objects $<TARGET_OBJECTS:${part}>)
endforeach()

# libzcp.so: the public API is include/zcp. Its version script (packaging/libzcp.map) exports
# the C ABI (zcp_*, versioned ZCP_1) and the C++ namespace zcp, and hides everything else the
# objects bring along (flatbuffers, fmt), so no other library's symbols clash with a user's.
add_library(zcp_shared SHARED ${zcp_install_objects})
add_dependencies(zcp_shared ${zcp_install_parts})
set_target_properties(zcp_shared PROPERTIES OUTPUT_NAME zcp EXPORT_NAME zcp
                      VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
                      LINK_DEPENDS ${PROJECT_SOURCE_DIR}/packaging/libzcp.map)
target_link_options(zcp_shared PRIVATE -Wl,--version-script=${PROJECT_SOURCE_DIR}/packaging/libzcp.map)
target_include_directories(zcp_shared INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(zcp_shared PRIVATE rt Threads::Threads zcp_build_flags INTERFACE Threads::Threads)
target_compile_features(zcp_shared INTERFACE cxx_std_20)

# libzcp.a for static linking: the same objects in one archive (in-tree libzcp.a holds only
# the client's own objects, so this one is built under lib/install/).
add_library(zcp_static STATIC ${zcp_install_objects})
add_dependencies(zcp_static ${zcp_install_parts})
set_target_properties(zcp_static PROPERTIES OUTPUT_NAME zcp EXPORT_NAME zcp_static
                      ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib/install)
target_include_directories(zcp_static INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(zcp_static INTERFACE Threads::Threads rt)
target_compile_features(zcp_static INTERFACE cxx_std_20)

install(TARGETS zcp_shared zcp_static EXPORT zerocpTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/zcp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
install(EXPORT zerocpTargets NAMESPACE zerocp:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/zerocp)
configure_package_config_file(${PROJECT_SOURCE_DIR}/packaging/zerocpConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/packaging/zerocpConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/zerocp)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/packaging/zerocpConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/packaging/zerocpConfig.cmake
              ${CMAKE_BINARY_DIR}/packaging/zerocpConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/zerocp)

# pkg-config: the prefix is found from the .pc file's own place (${pcfiledir}), so the file
# stays right for any `cmake --install --prefix`.
file(RELATIVE_PATH zcp_pc_to_prefix /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" zcp_pc_to_prefix "${zcp_pc_to_prefix}")
configure_file(${PROJECT_SOURCE_DIR}/packaging/zerocp.pc.in ${CMAKE_BINARY_DIR}/packaging/zerocp.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/packaging/zerocp-c.pc.in ${CMAKE_BINARY_DIR}/packaging/zerocp-c.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/packaging/zerocp.pc ${CMAKE_BINARY_DIR}/packaging/zerocp-c.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The tools. zcp-top joins when it is built.
foreach(tool diroute zcp-cli zcp-top zcp-perf)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

# The example configuration (tests/config checks it equals `diroute --print-default-config`)
# and the systemd unit, with the installed diroute's path.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/diroute.toml DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The unit is made at install time, so it names the prefix given to `cmake --install --prefix`.
install(CODE "
  set(ZCP_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(ZCP_DOCDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/packaging/diroute@.service.in\"
                 \"${CMAKE_BINARY_DIR}/packaging/diroute@.service\" @ONLY)
  file(INSTALL \"${CMAKE_BINARY_DIR}/packaging/diroute@.service\"
       DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/systemd/system\")
")
