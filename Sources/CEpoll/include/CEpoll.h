#ifndef PARKGUARD_CEPOLL_H
#define PARKGUARD_CEPOLL_H
// Glibc's Swift module map does not cover <sys/epoll.h>; the daemon's socket reactor
// (Sources/SocketIO) waits with it.
#include <sys/epoll.h>
#endif
