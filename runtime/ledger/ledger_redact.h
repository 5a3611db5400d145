/* ledger_redact.h: removes secrets from text before the ledger stores it.
 * Every string the ledger writes passes through ledger_redact(). */
#ifndef UB_LEDGER_REDACT_H
#define UB_LEDGER_REDACT_H

#include <stddef.h>
#include "util/buf.h"

/* Appends in[0..len) to out with every secret replaced by "***":
 *  - each non-empty string of secrets[0..nsecrets) wherever it occurs,
 *    also written with JSON escapes (\/ or \u00XX), percent-encoded, or
 *    inside the base64 of "user:secret" (Basic credentials);
 *  - Dynatrace tokens (dt0c01.XXX..., any dt0<letter><2 digits>. prefix);
 *  - the credential after "Api-Token " and "Bearer " (case-insensitive;
 *    the scheme word stays), and after "Basic " when it looks like base64
 *    (8+ characters with a digit, '+', '/', '=' or an inner capital), so
 *    that entity names such as "Basic checkout" survive for replay;
 *  - values of the query parameters code, token, api-token, api_token,
 *    apitoken, access_token and sig (after '?', '&' or ';');
 *  - values of JSON members whose key contains "token", "password" or
 *    "secret", or is "authorization", "apikey" or "api_key" (any case):
 *    a string becomes "***", a number or boolean becomes "***" (quoted);
 *    null, objects and arrays are kept (their contents are scanned).
 * Returns the number of redactions made, or -1 when out ran out of
 * memory. */
int ledger_redact(const char *in, size_t len, const char *const *secrets,
                  size_t nsecrets, ub_buf *out);

#endif
