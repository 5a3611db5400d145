/* json_keys.h: the keys already read in each open JSON object, so that the
 * reader rejects a duplicate key (json.c). A stack: an object's keys are
 * dropped when it closes, so memory follows the open objects, not the
 * document. Small objects are scanned; an object with many keys gets a
 * hash index, so a key is checked in constant time whatever the size. */
#ifndef UB_JSON_KEYS_H
#define UB_JSON_KEYS_H

#include <stddef.h>

typedef struct json_keyset json_keyset;

/* An object opens / closes (creating *set on first use). 0 or -1 (memory). */
int json_keyset_open(json_keyset **set);
void json_keyset_close(json_keyset *set);
/* Adds key to the innermost open object. Returns 0 when the key is new, 1
 * when the object already has it, -1 when out of memory. */
int json_keyset_add(json_keyset *set, const char *key, size_t len);
void json_keyset_free(json_keyset *set);

#endif
