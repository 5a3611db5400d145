/* gate_monspec.h: the monspec decoded once, by the stdlib's own decoder
 * (unbreakable.monspec.pyjson, which keeps key order and the integer/float
 * distinction), before the policy is chosen: the gate reads the document's
 * "policy" key from it, and the policy gets the decoded document as
 * ctx.monspec instead of decoding ctx.monspec_text again. The C side knows
 * no monspec syntax. */
#ifndef UB_GATE_MONSPEC_H
#define UB_GATE_MONSPEC_H

#include <stddef.h>

#include <lua.h>

typedef struct ub_monspec_doc ub_monspec_doc;
typedef struct ub_monspec_decoder ub_monspec_decoder;

/* The stdlib's decoder (stdlib_dir's pyjson) in a private Lua state,
 * compiled once: a long-running caller keeps it for every monspec it
 * decodes. NULL with err set when pyjson cannot be loaded. Free it after
 * the documents it decoded. */
ub_monspec_decoder *ub_monspec_decoder_new(const char *stdlib_dir, char *err, size_t errlen);
void ub_monspec_decoder_free(ub_monspec_decoder *dec);

/* Decodes text with stdlib_dir's pyjson in a private Lua state, the whole
 * of it whatever policy runs next (an invalid file, a duplicate key above
 * all, is refused before a policy that might not look at it). Returns the
 * document, or NULL with err set: *invalid is then 1 when the text is not
 * a JSON object (an input error) and 0 when the host failed. */
ub_monspec_doc *ub_monspec_decode(const char *stdlib_dir, const char *text, size_t len,
                                  int *invalid, char *err, size_t errlen);
/* The same with a kept decoder. */
ub_monspec_doc *ub_monspec_decode_with(ub_monspec_decoder *dec, const char *text, size_t len,
                                       int *invalid, char *err, size_t errlen);
void ub_monspec_free(ub_monspec_doc *doc);

/* The top-level "policy" string of the document, or NULL. */
const char *ub_monspec_policy(const ub_monspec_doc *doc);

/* Pushes a copy of the document onto L (a sandbox's state: the copy is
 * charged to the policy's memory like its own tables), with the order and
 * array marks the decoder set. Raises a Lua error on failure. */
void ub_monspec_push(lua_State *L, const ub_monspec_doc *doc);

#endif
