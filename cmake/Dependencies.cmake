# Finds every dependency through pkg-config; a missing one stops the
# configuration with the Debian package that provides it.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: sudo apt-get install pkg-config (or run ./setup.sh)")
endif()

set(UB_DEP_TARGETS "")
function(ub_require_pkg var module debian_package)
  pkg_check_modules(${var} IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "Missing dependency '${module}': sudo apt-get install ${debian_package} (or run ./setup.sh)")
  endif()
  set(UB_DEP_TARGETS ${UB_DEP_TARGETS} PkgConfig::${var} PARENT_SCOPE)
endfunction()

ub_require_pkg(LUA       lua5.4        liblua5.4-dev)
ub_require_pkg(CURL      libcurl       libcurl4-openssl-dev)
ub_require_pkg(YAML      yaml-0.1      libyaml-dev)
ub_require_pkg(MHD       libmicrohttpd libmicrohttpd-dev)
ub_require_pkg(SQLITE    sqlite3       libsqlite3-dev)
ub_require_pkg(CRYPTO    libcrypto     libssl-dev)
# signed policy bundles (runtime/bundle): Ed25519 and SHA-256, and tar.gz
ub_require_pkg(SODIUM    libsodium     libsodium-dev)
ub_require_pkg(ARCHIVE   libarchive    libarchive-dev)
pkg_check_modules(CMOCKA cmocka)
if(NOT CMOCKA_FOUND)
  message(FATAL_ERROR "Missing dependency 'cmocka': sudo apt-get install libcmocka-dev (or run ./setup.sh)")
endif()
