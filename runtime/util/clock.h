/* clock.h: the process's two clocks, written once. Deadlines, timeouts and
 * durations use the monotonic clock (never set back); timestamps that are
 * stored or sent use the wall clock (Unix epoch, UTC). */
#ifndef UB_CLOCK_H
#define UB_CLOCK_H

#include <stdint.h>

/* Monotonic time in seconds, with nanosecond resolution. */
double ub_clock_seconds(void);

/* Monotonic time in milliseconds. */
int64_t ub_clock_ms(void);

/* Wall-clock time since the Unix epoch, in milliseconds and microseconds. */
int64_t ub_clock_wall_ms(void);
int64_t ub_clock_wall_us(void);

#endif
