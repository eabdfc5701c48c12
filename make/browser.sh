#!/bin/sh
# Headless Chromium for the browser tests (tests/e2e/test_pages_browser.py): Debian's chromium and
# chromium-driver, installed with apt when either binary is missing (root, as on CI). Idempotent; nothing
# downloads a browser at test time.
set -eu
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "make/browser.sh: installing chromium and chromium-driver with apt-get"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium chromium-driver
