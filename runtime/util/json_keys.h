/* json_keys.h: the set of keys already read in each open JSON object, so
 * that the reader rejects a duplicate key (json.c). One set per reader;
 * objects are told apart by a serial number, so no set is ever cleared. */
#ifndef UB_JSON_KEYS_H
#define UB_JSON_KEYS_H

#include <stddef.h>
#include <stdint.h>

typedef struct json_keyset json_keyset;

/* Adds key to object `object` (creating *set on first use). Returns 0 when
 * the key is new, 1 when the object already has it, -1 when out of memory. */
int json_keyset_add(json_keyset **set, uint32_t object, const char *key, size_t len);
void json_keyset_free(json_keyset *set);

#endif
