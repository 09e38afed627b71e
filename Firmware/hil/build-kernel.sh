#!/usr/bin/env bash
# Builds a small x86-64 kernel with gpio-sim from Debian's linux-source-6.1, cached by the hash of
# kernel.config: the first build takes minutes, later runs reuse it. Prints the bzImage path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${PARKGUARD_HIL_CACHE:-$HOME/.cache/parkguard-hil}
key=$(sha256sum "$here/kernel.config" | cut -c1-16)
image="$cache/bzImage-$key"
if [[ -f $image ]]; then echo "$image"; exit 0; fi
mkdir -p "$cache"
tarball=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -1)
[[ -n $tarball ]] || { echo "linux-source-6.1 is not installed (apt-get install linux-source-6.1)" >&2; exit 1; }
src="$cache/linux-source-6.1"
if [[ ! -d $src ]]; then
  echo "unpacking $tarball" >&2
  tar -C "$cache" -xf "$tarball"
fi
cd "$src"
make -s tinyconfig >&2
scripts/kconfig/merge_config.sh -m .config "$here/kernel.config" >&2
make -s olddefconfig >&2
for option in GPIO_SIM GPIO_CDEV_V1 CONFIGFS_FS DEVTMPFS E1000 SERIAL_8250_CONSOLE; do
  grep -q "^CONFIG_$option=y" .config || { echo "kernel config lacks CONFIG_$option" >&2; exit 1; }
done
echo "building the kernel (a few minutes the first time)" >&2
make -s -j"$(nproc)" bzImage >&2
cp arch/x86/boot/bzImage "$image"
echo "$image"
