/* pt_fixture.c: the evaluation fixture written by `gate --dump-ctx FILE`
 * and `replay ID --export FILE`, read by fixture.evaluation() in specs:
 *   {"unbreakable_fixture":1,"kind":"monspec","policy":"...",
 *    "context":{...exactly what the policy received...},
 *    "recording":{"version":1,"exchanges":[...every Dynatrace response...]},
 *    "verdict":{...what the policy returned...}}
 * The token never appears: recorded bodies are already redacted. */
#include "policytest/pt_fixture.h"

#include <stdio.h>
#include <string.h>

#include "util/json.h"

static void string_field(ub_buf *out, const char *key, const char *value) {
  ub_buf_printf(out, ",\"%s\":", key);
  if (value) json_append_string(out, value, strlen(value));
  else ub_buf_puts(out, "null");
}

int pt_fixture_write(const char *path, const pt_fixture *f, char *err, size_t errlen) {
  ub_buf b;
  ub_buf_init(&b);
  ub_buf_puts(&b, "{\"unbreakable_fixture\":1");
  string_field(&b, "kind", f->kind);
  string_field(&b, "policy", f->policy);
  ub_buf_puts(&b, ",\"context\":");
  ub_buf_append(&b, f->ctx_json, f->ctx_len);
  ub_buf_puts(&b, ",\"recording\":");
  if (f->rec) ub_recorder_to_json(f->rec, &b);
  else ub_buf_puts(&b, "{\"version\":1,\"exchanges\":[]}");
  ub_buf_puts(&b, ",\"verdict\":");
  ub_buf_puts(&b, f->verdict_json && *f->verdict_json ? f->verdict_json : "null");
  ub_buf_puts(&b, "}\n");
  int rc = -1;
  FILE *out = b.failed ? NULL : fopen(path, "w");
  if (!out) {
    snprintf(err, errlen, "cannot write the fixture %s", path);
  } else {
    int bad = fwrite(b.data, 1, b.len, out) != b.len;
    bad |= fclose(out) != 0;
    if (bad) snprintf(err, errlen, "cannot write the fixture %s", path);
    else rc = 0;
  }
  ub_buf_free(&b);
  return rc;
}
