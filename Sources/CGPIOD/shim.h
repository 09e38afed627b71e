// libgpiod: 1.6 (v1 API, Debian 12) or 2.x (Debian 13, bookworm-backports), whichever pkg-config
// finds; Package.swift tells the Swift side which (LIBGPIOD_V2). Swift imports either directly.
#include <gpiod.h>
