/* json_keys.c: per-object key sets for the JSON reader (json_keys.h).
 * Entries of all open objects live on one stack, key text in one arena;
 * closing an object pops its entries. An object scans its entries until it
 * has more than SCAN_MAX keys, then builds an open-addressing index over
 * them (and keeps it up to date), so a 150,000-key object costs linear time.
 * Lookups compare the text: a hash collision is never taken for a duplicate. */
#include "util/json_keys.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

enum { SCAN_MAX = 16 };

typedef struct entry {
  uint64_t hash;
  size_t off, len;      /* key text in the arena */
} entry;

typedef struct frame {
  size_t first;         /* first entry of the object */
  size_t arena_len;     /* arena length when it opened */
  size_t *index;        /* entry numbers + 1 (0: empty), NULL while small */
  size_t index_cap;     /* a power of two */
} frame;

struct json_keyset {
  entry *e;
  size_t n, cap;
  frame *f;
  size_t nf, capf;
  ub_buf arena;
};

static uint64_t hash_key(const char *key, size_t len) {
  uint64_t h = 1469598103934665603ull;               /* FNV-1a */
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)key[i];
    h *= 1099511628211ull;
  }
  return h ^ (h >> 29);
}

static int grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap * 2 : 16;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * size);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

int json_keyset_open(json_keyset **set) {
  if (!*set) {
    if (!(*set = calloc(1, sizeof **set))) return -1;
    ub_buf_init(&(*set)->arena);
  }
  json_keyset *s = *set;
  if (grow((void **)&s->f, &s->capf, s->nf + 1, sizeof *s->f) != 0) return -1;
  s->f[s->nf++] = (frame){.first = s->n, .arena_len = s->arena.len};
  return 0;
}

void json_keyset_close(json_keyset *s) {
  if (!s || s->nf == 0) return;
  frame *f = &s->f[--s->nf];
  s->n = f->first;
  s->arena.len = f->arena_len;
  free(f->index);
}

static int same(const json_keyset *s, const entry *e, uint64_t h, const char *key, size_t len) {
  return e->hash == h && e->len == len && (len == 0 || memcmp(s->arena.data + e->off, key, len) == 0);
}

static void index_put(frame *f, const entry *all, size_t k) {
  size_t j = (size_t)all[k].hash & (f->index_cap - 1);
  while (f->index[j]) j = (j + 1) & (f->index_cap - 1);
  f->index[j] = k + 1;
}

/* (Re)builds the object's index with room for twice its keys. */
static int reindex(json_keyset *s, frame *f) {
  size_t count = s->n - f->first, cap = 64;
  while (cap < count * 2 + 2) cap *= 2;
  size_t *index = calloc(cap, sizeof *index);
  if (!index) return -1;
  free(f->index);
  f->index = index;
  f->index_cap = cap;
  for (size_t k = f->first; k < s->n; k++) index_put(f, s->e, k);
  return 0;
}

static int seen(const json_keyset *s, const frame *f, uint64_t h, const char *key, size_t len) {
  if (!f->index) {
    for (size_t k = f->first; k < s->n; k++)
      if (same(s, &s->e[k], h, key, len)) return 1;
    return 0;
  }
  for (size_t j = (size_t)h & (f->index_cap - 1); f->index[j]; j = (j + 1) & (f->index_cap - 1))
    if (same(s, &s->e[f->index[j] - 1], h, key, len)) return 1;
  return 0;
}

int json_keyset_add(json_keyset *s, const char *key, size_t len) {
  if (!s || s->nf == 0) return -1;
  frame *f = &s->f[s->nf - 1];
  uint64_t h = hash_key(key, len);
  if (seen(s, f, h, key, len)) return 1;
  if (grow((void **)&s->e, &s->cap, s->n + 1, sizeof *s->e) != 0) return -1;
  size_t off = s->arena.len;
  if (ub_buf_append(&s->arena, key, len) != 0) return -1;
  s->e[s->n++] = (entry){.hash = h, .off = off, .len = len};
  size_t count = s->n - f->first;
  if (count > SCAN_MAX && (!f->index || count * 2 >= f->index_cap)) return reindex(s, f);
  if (f->index) index_put(f, s->e, s->n - 1);
  return 0;
}

void json_keyset_free(json_keyset *s) {
  if (!s) return;
  while (s->nf) json_keyset_close(s);
  free(s->e);
  free(s->f);
  ub_buf_free(&s->arena);
  free(s);
}
