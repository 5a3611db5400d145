/* json_keys.c: open-addressing hash set of (object serial, key) pairs (see
 * json_keys.h). Keys are copied into one arena; lookups compare the text,
 * so a hash collision is never taken for a duplicate. Linear in the number
 * of keys of the document, whatever their spread over objects. */
#include "util/json_keys.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct slot {
  uint64_t hash;
  size_t off;           /* key text in the arena */
  uint32_t len;
  uint32_t object;      /* 0: empty slot */
} slot;

struct json_keyset {
  slot *slots;
  size_t cap, count;    /* cap: a power of two */
  ub_buf arena;
};

static uint64_t hash_key(uint32_t object, const char *key, size_t len) {
  uint64_t h = 1469598103934665603ull ^ object;      /* FNV-1a, seeded with the object */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)key[i];
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

static int grow(json_keyset *s) {
  size_t cap = s->cap ? s->cap * 2 : 64;
  slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  for (size_t i = 0; i < s->cap; i++) {
    if (!s->slots[i].object) continue;
    size_t j = (size_t)s->slots[i].hash & (cap - 1);
    while (slots[j].object) j = (j + 1) & (cap - 1);
    slots[j] = s->slots[i];
  }
  free(s->slots);
  s->slots = slots;
  s->cap = cap;
  return 0;
}

int json_keyset_add(json_keyset **set, uint32_t object, const char *key, size_t len) {
  if (len > UINT32_MAX) return -1;
  if (!*set) {
    if (!(*set = calloc(1, sizeof **set))) return -1;
    ub_buf_init(&(*set)->arena);
  }
  json_keyset *s = *set;
  if ((s->count + 1) * 2 > s->cap && grow(s) != 0) return -1;
  uint64_t h = hash_key(object, key, len);
  size_t j = (size_t)h & (s->cap - 1);
  for (; s->slots[j].object; j = (j + 1) & (s->cap - 1)) {
    const slot *e = &s->slots[j];
    if (e->hash == h && e->object == object && e->len == len &&
        (len == 0 || memcmp(s->arena.data + e->off, key, len) == 0))
      return 1;
  }
  size_t off = s->arena.len;
  if (ub_buf_append(&s->arena, key, len) != 0 || s->arena.failed) return -1;
  s->slots[j] = (slot){.hash = h, .off = off, .len = (uint32_t)len, .object = object};
  s->count++;
  return 0;
}

void json_keyset_free(json_keyset *set) {
  if (!set) return;
  free(set->slots);
  ub_buf_free(&set->arena);
  free(set);
}
