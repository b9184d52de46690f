# `cmake --install` into a scratch prefix: every file README.md's "Install on real machines"
# relies on is there, and the systemd unit names the installed daemon.
#   cmake -DBUILD=<build dir> -DPREFIX=<scratch dir> -P install_test.cmake
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD}" --prefix "${PREFIX}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}):\n${out}\n${err}")
endif()
include(GNUInstallDirs)
set(want
  "${CMAKE_INSTALL_BINDIR}/vremoted"
  "${CMAKE_INSTALL_BINDIR}/vremote"
  "${CMAKE_INSTALL_LIBDIR}/libvremote.so"
  "${CMAKE_INSTALL_LIBDIR}/libvremote.so.0"
  "${CMAKE_INSTALL_LIBDIR}/libvremote-preload.so"
  "${CMAKE_INSTALL_INCLUDEDIR}/vremote/vremote.h"
  "${CMAKE_INSTALL_INCLUDEDIR}/vremote/fcntl.h"
  "${CMAKE_INSTALL_DATADIR}/vremote/vremote.toml.example"
  "lib/systemd/system/vremoted.service")
foreach(f IN LISTS want)
  if(NOT EXISTS "${PREFIX}/${f}")
    file(GLOB_RECURSE have RELATIVE "${PREFIX}" "${PREFIX}/*")
    message(FATAL_ERROR "${f} is not installed; installed: ${have}")
  endif()
endforeach()
file(READ "${PREFIX}/lib/systemd/system/vremoted.service" unit)
foreach(line
    "Type=simple"
    "ExecStart=${PREFIX}/${CMAKE_INSTALL_BINDIR}/vremoted --config /etc/vremote/vremote.toml"
    "KillSignal=SIGTERM"
    "TimeoutStopSec="
    "Restart=on-failure"
    "LimitNOFILE=")
  string(FIND "${unit}" "\n${line}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "vremoted.service lacks \"${line}\":\n${unit}")
  endif()
endforeach()
if(unit MATCHES "@[A-Z_]+@")
  message(FATAL_ERROR "vremoted.service has an unreplaced variable:\n${unit}")
endif()
file(REMOVE_RECURSE "${PREFIX}")
