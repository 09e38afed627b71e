// Header-only target; see include/CSystemClock.h.
