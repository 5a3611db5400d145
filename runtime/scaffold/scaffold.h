/* Folder scaffold/: `unbreakable init`'s starting point for a team: the
 * template files (templates/init/ in the source tree, installed beside the
 * stdlib), the values substituted into them (service, tenant, CI) and
 * their checks, and writing the files all or nothing. Calls only util/;
 * the templates and policies folders come from the caller (commands/). */
/* scaffold.h: plan the files of a new project, check for files it would
 * overwrite, write them. */
#ifndef UB_SCAFFOLD_H
#define UB_SCAFFOLD_H

#include <stddef.h>

#include "util/buf.h"

/* The values substituted for {{service}}, {{tenant}} and {{ci}}. */
typedef struct scaffold_vars {
  const char *service;  /* checked by scaffold_check_service */
  const char *tenant;   /* checked and normalised by scaffold_check_tenant */
  const char *ci;       /* azure, github or gitlab */
} scaffold_vars;

/* One file to write, relative to the project's folder. */
typedef struct scaffold_file {
  char *rel;
  char *text;
  size_t len;
  int executable;
} scaffold_file;

typedef struct scaffold {
  scaffold_file *files;
  size_t n, cap;
} scaffold;

/* 0 when name can be the service's name: letters, digits, '.', '_', '-',
 * starting with a letter or digit, at most 63 characters (it becomes a JSON
 * key, YAML values, a Dynatrace tag value and part of ENTITY/COMPARISON).
 * Else -1 with err saying why and what is allowed. */
int scaffold_check_service(const char *name, char *err, size_t errlen);

/* 0 when url is a Dynatrace environment URL that is safe in every file
 * (https://host[:port][/path], or http:// to a loopback host for the
 * simulators); out gets it without a trailing '/'. Else -1 with err. */
int scaffold_check_tenant(const char *url, char *out, size_t outlen, char *err, size_t errlen);

/* 0 for azure, github, gitlab; else -1 with err. */
int scaffold_check_ci(const char *ci, char *err, size_t errlen);

/* Reads the templates (templates_dir/files/ and templates_dir/ci/CI/) and
 * the shipped selfheal policy (policies_dir/selfheal.lua, as
 * policies/default_selfheal.lua), substituting vars. 0 or -1 with err. */
int scaffold_plan(scaffold *s, const char *templates_dir, const char *policies_dir, const scaffold_vars *vars,
                  char *err, size_t errlen);

/* Appends to names (one "  DIR/REL\n" line each) every planned file that
 * already exists under dir (as anything: file, link, folder). The count. */
size_t scaffold_conflicts(const scaffold *s, const char *dir, ub_buf *names);

/* 0 when every folder the files go into (dir included) is a folder or
 * does not exist yet; else -1 with err naming the first that is not (even
 * --force does not replace a file by a folder). */
int scaffold_check_folders(const scaffold *s, const char *dir, char *err, size_t errlen);

/* Creates dir and the folders under it and writes every file, each
 * through a temporary file: renamed over its name with force, else linked
 * to it (a file that appeared since scaffold_conflicts is not overwritten:
 * an error). 0 or -1 with err naming the file. */
int scaffold_write(const scaffold *s, const char *dir, int force, char *err, size_t errlen);

void scaffold_free(scaffold *s);

#endif
