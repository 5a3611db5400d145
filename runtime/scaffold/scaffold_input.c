/* scaffold_input.c: the checks of the values `unbreakable init` writes into
 * JSON, YAML, Lua, shell and systemd files. Rather than quoting for each
 * of those languages, only characters that mean nothing in any of them are
 * accepted, and anything else is refused with what is allowed. */
#include "scaffold/scaffold.h"

#include <stdio.h>
#include <string.h>

static int is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int scaffold_check_service(const char *name, char *err, size_t errlen) {
  size_t n = strlen(name);
  if (n == 0 || n > 63) {
    snprintf(err, errlen, "the service name must have 1 to 63 characters (it has %zu)", n);
    return -1;
  }
  if (!is_alnum(name[0])) {
    snprintf(err, errlen, "the service name must start with a letter or a digit");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') {
      snprintf(err, errlen, "the service name may hold only letters, digits, '.', '_' and '-' "
               "(it becomes a JSON key, YAML values and a Dynatrace tag value); character %zu is not one", i + 1);
      return -1;
    }
  }
  return 0;
}

/* The host of url (after the scheme) ends at ':' '/' or the end. */
static int loopback_host(const char *host, size_t len) {
  return (len == 9 && strncmp(host, "localhost", 9) == 0) || (len == 9 && strncmp(host, "127.0.0.1", 9) == 0);
}

static int tenant_error(const char *url, char *err, size_t errlen, const char *why) {
  char shown[201]; /* what was given, made safe for a terminal: controls and non-ASCII as '?' */
  size_t i = 0;
  for (; url[i] && i < sizeof shown - 1; i++)
    shown[i] = ((unsigned char)url[i] < 0x20 || (unsigned char)url[i] >= 0x7f) ? '?' : url[i];
  shown[i] = '\0';
  snprintf(err, errlen, "'%s' is not a Dynatrace environment URL: %s (e.g. "
           "https://abc12345.live.dynatrace.com or https://dynatrace.example.com/e/ENVIRONMENT-ID)", shown, why);
  return -1;
}

int scaffold_check_tenant(const char *url, char *out, size_t outlen, char *err, size_t errlen) {
  size_t n = strlen(url);
  const char *p;
  if (strncmp(url, "https://", 8) == 0) p = url + 8;
  else if (strncmp(url, "http://", 7) == 0) p = url + 7;
  else return tenant_error(url, err, errlen, "it must start with https://");
  if (n > 200 || n + 1 > outlen) return tenant_error(url, err, errlen, "it is longer than 200 characters");
  const char *host = p;
  while (is_alnum(*p) || *p == '.' || *p == '-') p++;
  size_t hostlen = (size_t)(p - host);
  if (hostlen == 0 || host[0] == '.' || host[0] == '-')
    return tenant_error(url, err, errlen, "the host name is missing or does not start with a letter or digit");
  if (url[4] == ':' && !loopback_host(host, hostlen))
    return tenant_error(url, err, errlen, "plain http:// is only for a simulator on 127.0.0.1 or localhost");
  if (*p == ':') {
    const char *digits = ++p;
    while (*p >= '0' && *p <= '9') p++;
    if (p == digits || p - digits > 5) return tenant_error(url, err, errlen, "the port is not a number");
  }
  if (*p && *p != '/') return tenant_error(url, err, errlen, "the host name or port is followed by something else");
  for (; *p; p++) {
    if (!is_alnum(*p) && !strchr("/._-~", *p))
      return tenant_error(url, err, errlen, "only letters, digits and . _ - ~ / may follow the host "
                          "(no quotes, blanks, '#', '$', '?', '{' or '}')");
  }
  memcpy(out, url, n + 1);
  while (n > 0 && out[n - 1] == '/') out[--n] = '\0';
  return 0;
}

int scaffold_check_ci(const char *ci, char *err, size_t errlen) {
  if (strcmp(ci, "azure") == 0 || strcmp(ci, "github") == 0 || strcmp(ci, "gitlab") == 0) return 0;
  snprintf(err, errlen, "unknown CI '%.60s' (azure, github or gitlab)", ci);
  return -1;
}
