#!/bin/sh
# The guest's /init: a gpio-sim chip, parkguardd on it with the gpiod backend, and a scripted
# sequence of presses, bounces, a hold and a tamper driven through the simulated pulls.
# Lines the host reads start with "HIL ".
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t configfs none /sys/kernel/config
mount -t tmpfs tmp /tmp
mkdir -p /tmp/state
port=$(sed -n 's/.*pgport=\([0-9]*\).*/\1/p' /proc/cmdline)

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

# The chip: 16 lines with the label the agent opens it by.
g=/sys/kernel/config/gpio-sim/pg
mkdir $g $g/bank0
echo 16 > $g/bank0/num_lines
echo parkguard-hil > $g/bank0/label
echo 1 > $g/live
dev=$(cat $g/dev_name)
chip=$(cat $g/bank0/chip_name)
sim=/sys/devices/platform/$dev/$chip
echo "HIL chip $dev/$chip at /dev/$chip"

cat > /tmp/agent.yaml <<YAML
site: hil
unit: qemu
broker: {host: 10.0.2.2, port: $port, reconnectInitial: 200ms, reconnectMax: 1s}
gpio: {backend: gpiod, chip: parkguard-hil}
bells:
  - {id: b1, line: 0, debounce: 20ms, holdAfter: 1s, stuckAfter: 30s, acknowledgedFor: 2s}
  - {id: b2, line: 1, debounce: 100ms}   # wide: TCG on a busy host can stretch the 2 ms toggles
  - {id: b3, line: 3, debounce: 20ms}    # the overflow burst
inputs:
  - {id: t1, kind: tamper, line: 2, bell: b1}
outputs:
  - {id: strobe, role: strobe, line: 8, duration: 60s}
  - {id: siren, role: siren, line: 9, duration: 60s}
  - {id: accepted, role: callAccepted, line: 10, duration: 60s}
heartbeatInterval: 5s
stateDirectory: /tmp/state
logLevel: info
YAML

/bin/parkguardd --config /tmp/agent.yaml 2>&1 | sed 's/^/AGENT /' &
sleep 4
pull() { echo "$2" > $sim/sim_gpio$1/pull; }
value() { cat $sim/sim_gpio$1/value; }
echo "HIL idle outputs strobe=$(value 8) siren=$(value 9) accepted=$(value 10)"

echo "HIL press b1"; pull 0 pull-down; sleep 1
echo "HIL outputs strobe=$(value 8) siren=$(value 9)"
sleep 1; echo "HIL release b1"; pull 0 pull-up

# The host acknowledges the press; wait for the call-accepted light.
for i in $(seq 50); do [ "$(value 10)" = 1 ] && break; usleep 100000; done
echo "HIL accepted=$(value 10)"

sleep 1; echo "HIL bounce b2"
for i in 1 2 3 4 5 6 7; do pull 1 pull-down; usleep 2000; pull 1 pull-up; usleep 2000; done
pull 1 pull-down; sleep 1; pull 1 pull-up
sleep 1; echo "HIL tamper t1"; pull 2 pull-down; sleep 1; pull 2 pull-up
sleep 2
# More edges than the kernel keeps while the agent cannot read them (stopped): v1 keeps 16 and
# drops the rest silently; v2 keeps the newest 1024 and its sequence numbers show the gap.
burst=1300
echo "HIL burst b3 $((burst * 2)) edges while parkguardd is stopped"
kill -STOP $(pidof parkguardd)
i=0; while [ $i -lt $burst ]; do pull 3 pull-down; pull 3 pull-up; i=$((i + 1)); done
kill -CONT $(pidof parkguardd)
sleep 3
echo "HIL stopping"
kill -TERM $(pidof parkguardd); sleep 3
echo "HIL done"
reboot -f
