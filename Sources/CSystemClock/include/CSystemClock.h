#ifndef PARKGUARD_CSYSTEMCLOCK_H
#define PARKGUARD_CSYSTEMCLOCK_H
// Glibc's Swift module map does not cover <sys/timex.h>; this is the one call the agent needs
// from it: whether the kernel considers the wall clock synchronised by NTP.
#include <sys/timex.h>

static inline int parkguard_clock_synced(void) {
    struct timex tx = {0};
    int state = adjtimex(&tx);
    return state >= 0 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
}
#endif
