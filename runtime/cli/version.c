/* version.c: `unbreakable --version`: our version and the versions of Lua
 * and of the libraries actually linked. */
#include "cli/version.h"

#include <stdio.h>

#include <curl/curl.h>
#include <lua.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <yaml.h>

void ub_print_version(FILE *out) {
  curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
  fprintf(out, "unbreakable %s\n", UB_VERSION);
  fprintf(out, "  %s\n", LUA_RELEASE);
  fprintf(out, "  libcurl %s (%s)\n", curl->version, curl->ssl_version ? curl->ssl_version : "no TLS");
  fprintf(out, "  libyaml %s\n", yaml_get_version_string());
  fprintf(out, "  SQLite %s\n", sqlite3_libversion());
  fprintf(out, "  libmicrohttpd %s\n", MHD_get_version());
  fprintf(out, "  %s\n", OpenSSL_version(OPENSSL_VERSION));
}
