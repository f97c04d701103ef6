# Finds bpr's dependencies (all Debian packages) and links them to a target.
# Used both by the source tree and by the installed package config.
include(CMakeFindDependencyMacro)

macro(bpr_find_dependencies)
  find_dependency(Eigen3 3.4 NO_MODULE)
  find_dependency(xtl)            # Debian's xsimd target links a target named xtl
  find_dependency(xsimd 8)
  find_dependency(ZLIB)
  find_package(OpenMP COMPONENTS CXX QUIET)
  if(NOT TARGET bpr::stb)
    find_path(BPR_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
    find_library(BPR_STB_LIBRARY stb)
    if(NOT BPR_STB_INCLUDE_DIR OR NOT BPR_STB_LIBRARY)
      message(FATAL_ERROR "bpr needs stb_image (Debian package libstb-dev); "
                          "found include='${BPR_STB_INCLUDE_DIR}' library='${BPR_STB_LIBRARY}'")
    endif()
    add_library(bpr::stb UNKNOWN IMPORTED)
    set_target_properties(bpr::stb PROPERTIES IMPORTED_LOCATION "${BPR_STB_LIBRARY}"
                          INTERFACE_INCLUDE_DIRECTORIES "${BPR_STB_INCLUDE_DIR}")
  endif()
endmacro()

function(bpr_link_dependencies target)
  bpr_find_dependencies()
  target_link_libraries(${target} INTERFACE Eigen3::Eigen xsimd ZLIB::ZLIB
                        $<BUILD_INTERFACE:bpr::stb>)
  if(OpenMP_CXX_FOUND)
    target_link_libraries(${target} INTERFACE OpenMP::OpenMP_CXX)
  endif()
endfunction()
