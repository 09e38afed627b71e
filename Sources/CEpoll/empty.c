// Header-only target; see include/CEpoll.h.
