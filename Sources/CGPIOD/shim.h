// libgpiod 1.6 (v1 API). Everything Swift needs imports directly; no wrappers required.
#include <gpiod.h>
