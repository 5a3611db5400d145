/* version.h: version report. */
#ifndef UB_VERSION_H
#define UB_VERSION_H

#include <stdio.h>

void ub_print_version(FILE *out);

#endif
