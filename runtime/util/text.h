/* text.h: text leaving the process, made safe for where it goes, with one
 * escaper per destination:
 *  - terminals and CI logs (ub_text_line, ub_text_lines, ub_text_sanitize):
 *    nothing a policy, a ledger row or Dynatrace wrote may move the cursor,
 *    overwrite a line, retitle or clear a terminal, or start a CI logging
 *    command (Azure Pipelines "##vso[" and "##[", GitHub Actions "::cmd::",
 *    GitLab "section_start:"/"section_end:");
 *  - XML and HTML (ub_xml_escape): any bytes become well-formed XML 1.0
 *    character data, safe in attributes, element text and HTML pages;
 * and the UTF-8 decoder they share. */
#ifndef UB_TEXT_H
#define UB_TEXT_H

#include <stddef.h>

#include "util/buf.h"

/* Length (1 to 4) of the well-formed UTF-8 sequence at s, with its code
 * point in *cp; 0 when the bytes are not one (truncated, overlong,
 * surrogate, above U+10FFFF). */
size_t ub_utf8_decode(const unsigned char *s, size_t len, unsigned *cp);

/* True for the code points a terminal or a log viewer treats as controls:
 * C0, DEL, C1, line and paragraph separators, bidirectional embeddings,
 * overrides and isolates. */
int ub_text_is_control(unsigned cp);

/* Writes s[0..len) made safe as part of one terminal line to dst (room
 * for len bytes; dst may be s: the text never grows) and returns its
 * length. Tab and printable characters stay: tab and printable
 * characters stay; every other C0 control (newline, CR, ESC, BEL
 * included), DEL, C1 control (U+0080..U+009F), bidirectional override,
 * line or paragraph separator, and every byte that is not well-formed
 * UTF-8 becomes one '?'. "##vso[" and "##[" anywhere (Azure Pipelines runs
 * them wherever they stand in a line) get a '?' after their "##". */
size_t ub_text_clean(char *dst, const char *s, size_t len);

/* Appends ub_text_clean of s[0..len). */
void ub_text_line(ub_buf *out, const char *s, size_t len);

/* Appends s[0..len) line by line (split at '\n'), each line made safe as
 * by ub_text_line and ended by '\n'. With prefix, every line starts with
 * it; without, a line whose first non-blank characters could start a CI
 * logging command ("::", "##", "section_start:", "section_end:") starts
 * with "policy: ". */
void ub_text_lines(ub_buf *out, const char *s, size_t len, const char *prefix);

/* ub_text_line in place, for fixed-size buffers (the text never grows). */
void ub_text_sanitize(char *s);

/* Appends s[0..len) escaped for XML 1.0 and HTML attribute values and
 * text: & < > " ' as references; tab, newline and CR as character
 * references (no line of the output starts with the caller's text, and
 * attribute values keep them); "##" as "#&#35;" (an XML report printed
 * to a CI log cannot start an Azure command); other C0 controls, DEL, C1
 * controls, U+FFFE, U+FFFF and bytes that are not well-formed UTF-8 as
 * U+FFFD. The result is always well-formed. */
void ub_xml_escape(ub_buf *out, const char *s, size_t len);

/* ub_xml_escape of a NUL-terminated string; NULL appends nothing. */
void ub_xml_puts(ub_buf *out, const char *s);

#endif
