#!/usr/bin/env bash
# The browser the sandbox's browser test drives: Debian's chromium (Playwright's Python
# driver launches this system browser; nothing is downloaded at run time, and
# `playwright install` is never run), and fonts for its text and emoji.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "chromium is installed: $(chromium --version 2>/dev/null | head -n 1)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium fonts-dejavu-core fonts-noto-color-emoji
chromium --version 2>/dev/null | head -n 1
