// libjpeg-turbo's TurboJPEG API (libturbojpeg0-dev): decode snapshots, encode simulated frames.
#include <turbojpeg.h>
