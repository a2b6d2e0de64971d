#!/usr/bin/env sh
# What winsor's tests need on a Debian/Ubuntu machine, installed only where missing:
# Mesa's lavapipe (a Vulkan driver that runs on the CPU, the adapter on a machine without a
# GPU) and the Khronos validation layer (every GPU test runs under it; README, "GPU
# readiness"). Works as root without sudo, and as a user with sudo.
set -eu
need=""
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need="$need mesa-vulkan-drivers"
ls /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json >/dev/null 2>&1 \
    || need="$need vulkan-validationlayers"
if [ -z "$need" ]; then
    echo "lavapipe and the Vulkan validation layer are installed"
    exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "installing$need"
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # $need is a list of package names
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
