// mosquitto.h does not include mqtt_protocol.h, where MQTT_PROP_* and MQTT_RC_* live.
#include <mosquitto.h>
#include <mqtt_protocol.h>
