// mosquitto.h does not include mqtt_protocol.h, where MQTT_PROP_* and MQTT_RC_* live.
#include <mosquitto.h>
#include <mqtt_protocol.h>
// The shared network loop (MosquittoNetworkLoop) waits on many clients' sockets with epoll,
// which Glibc's Swift module map does not export.
#include <sys/epoll.h>
