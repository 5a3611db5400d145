/* serve_bundle.c: where serve's specs come from. Without --bundle, the
 * --specs folder. With `--bundle B --pubkey K`, only from B once its
 * signature and every file's hash verify (bundle/): the verified files are
 * unpacked into a new private folder, which becomes the live specs. On
 * SIGHUP the bundle is read and verified again; a good one becomes live for
 * the gates that start from then on, while gates in flight finish on the
 * folder they started with (each holds a reference); a bundle that fails
 * verification is refused with a log line saying why and the last good one
 * stays live. A replaced folder is removed when its last gate ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "serve/serve.h"
#include "util/digest.h"
#include "util/json.h"

/* Verifies and unpacks the bundle of the configuration into a new specs. */
static serve_specs *open_bundle(const serve_config *c, char *err, size_t errlen) {
  ub_bundle *b = ub_bundle_open(c->bundle, c->pubkey, err, errlen);
  if (!b) return NULL;
  serve_specs *sp = calloc(1, sizeof *sp);
  const char *tmp = getenv("TMPDIR");
  if (!sp) {
    snprintf(err, errlen, "out of memory");
  } else if (ub_sha256_hex(b->manifest, b->manifest_len, sp->digest) != 0) {
    snprintf(err, errlen, "%s: cannot compute the manifest's digest", c->bundle);
  } else {
    snprintf(sp->dir, sizeof sp->dir, "%s/unbreakable-serve-bundle-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (ub_bundle_extract(b, sp->dir, err, errlen) == 0) {
      snprintf(sp->bundle, sizeof sp->bundle, "%s", c->bundle);
      snprintf(sp->key_id, sizeof sp->key_id, "%s", b->key_id);
      snprintf(sp->signed_at, sizeof sp->signed_at, "%s", b->signed_at);
      sp->refs = 1;
      ub_bundle_free(b);
      return sp;
    }
  }
  free(sp);
  ub_bundle_free(b);
  return NULL;
}

static void drop(serve_specs *sp) {
  if (sp->bundle[0]) ub_bundle_remove_dir(NULL, sp->dir);
  free(sp);
}

int serve_specs_load(serve_state *s, char *err, size_t errlen) {
  serve_specs *sp;
  if (s->cfg->bundle[0]) {
    sp = open_bundle(s->cfg, err, errlen);
    if (!sp) return -1;
    serve_logf("info", NULL, "specs from bundle %s: digest %s, key id %s, signed at %s", sp->bundle,
               sp->digest, sp->key_id, sp->signed_at);
    snprintf(s->cfg->specs, sizeof s->cfg->specs, "%s", sp->dir); /* what self-healing reads */
  } else {
    sp = calloc(1, sizeof *sp);
    if (!sp) return snprintf(err, errlen, "out of memory"), -1;
    snprintf(sp->dir, sizeof sp->dir, "%s", s->cfg->specs);
    sp->refs = 1;
  }
  s->specs = sp;
  s->heal_specs = serve_specs_acquire(s); /* self-healing reads its settings once, from these */
  return 0;
}

int serve_specs_reload(serve_state *s) {
  char err[900];
  if (!s->cfg->bundle[0]) {
    serve_logf("info", NULL, "SIGHUP: serving --specs %s as before (no --bundle to reload)", s->cfg->specs);
    return 0;
  }
  serve_specs *fresh = open_bundle(s->cfg, err, sizeof err);
  pthread_mutex_lock(&s->mu);
  serve_specs *old = fresh ? s->specs : NULL;
  if (fresh) {
    s->specs = fresh;
    s->bundle_reloads++;
    s->bundle_refused[0] = '\0';
  } else {
    s->bundle_refusals++;
    snprintf(s->bundle_refused, sizeof s->bundle_refused, "%s", err);
  }
  const serve_specs *live = s->specs;
  if (fresh)
    serve_logf("info", NULL, "SIGHUP: bundle %s reloaded: digest %s, key id %s, signed at %s (gates in "
               "flight finish on the previous one)", fresh->bundle, fresh->digest, fresh->key_id, fresh->signed_at);
  else
    serve_logf("error", NULL, "SIGHUP: bundle refused, still serving digest %s (key id %s): %s", live->digest,
               live->key_id, err);
  pthread_mutex_unlock(&s->mu);
  if (old) serve_specs_release(s, old);
  return fresh ? 0 : -1;
}

serve_specs *serve_specs_acquire(serve_state *s) {
  pthread_mutex_lock(&s->mu);
  serve_specs *sp = s->specs;
  sp->refs++;
  pthread_mutex_unlock(&s->mu);
  return sp;
}

void serve_specs_release(serve_state *s, serve_specs *sp) {
  if (!sp) return;
  pthread_mutex_lock(&s->mu);
  int last = --sp->refs == 0;
  pthread_mutex_unlock(&s->mu);
  if (last) drop(sp);
}

void serve_specs_heal_started(serve_state *s) {
  if (serve_heal_reads_under(s->heal, s->heal_specs->dir)) {
    if (s->heal_specs->bundle[0])
      serve_logf("info", NULL, "selfheal: its policy comes from bundle %s as verified at start; a reload "
                 "changes the gates' specs, not self-healing's (restart serve for that)", s->heal_specs->bundle);
    return;
  }
  serve_specs_release(s, s->heal_specs);
  s->heal_specs = NULL;
}

void serve_specs_close(serve_state *s) {
  serve_specs_release(s, s->heal_specs);
  s->heal_specs = NULL;
  pthread_mutex_lock(&s->mu);
  serve_specs *sp = s->specs;
  s->specs = NULL;
  pthread_mutex_unlock(&s->mu);
  serve_specs_release(s, sp);
}

static void put(ub_buf *out, const char *key, const char *v, int first) {
  ub_buf_printf(out, "%s\"%s\":", first ? "" : ",", key);
  json_append_string(out, v, strlen(v));
}

void serve_specs_describe(serve_state *s, ub_buf *out) {
  pthread_mutex_lock(&s->mu);
  const serve_specs *sp = s->specs;
  if (!sp->bundle[0]) {
    ub_buf_puts(out, "{");
    put(out, "specs", sp->dir, 1);
  } else {
    ub_buf_puts(out, "{");
    put(out, "bundle", sp->bundle, 1);
    put(out, "digest", sp->digest, 0);
    put(out, "key_id", sp->key_id, 0);
    put(out, "signed_at", sp->signed_at, 0);
    ub_buf_printf(out, ",\"reloads\":%llu,\"refused\":%llu", s->bundle_reloads, s->bundle_refusals);
    if (s->bundle_refused[0]) put(out, "last_refusal", s->bundle_refused, 0);
  }
  ub_buf_puts(out, "}");
  pthread_mutex_unlock(&s->mu);
}

void serve_specs_metrics(serve_state *s, ub_buf *out) {
  pthread_mutex_lock(&s->mu);
  const serve_specs *sp = s->specs;
  if (sp->bundle[0])
    ub_buf_printf(out, "# HELP unbreakable_bundle_info The signed bundle the specs are served from.\n"
                       "# TYPE unbreakable_bundle_info gauge\n"
                       "unbreakable_bundle_info{digest=\"%s\",key_id=\"%s\"} 1\n"
                       "# HELP unbreakable_bundle_reloads_total Bundle reloads on SIGHUP, by result.\n"
                       "# TYPE unbreakable_bundle_reloads_total counter\n"
                       "unbreakable_bundle_reloads_total{result=\"loaded\"} %llu\n"
                       "unbreakable_bundle_reloads_total{result=\"refused\"} %llu\n",
                  sp->digest, sp->key_id, s->bundle_reloads, s->bundle_refusals);
  pthread_mutex_unlock(&s->mu);
}
