#!/bin/sh
# Install the packages listed in $1 that the base image lacks. Nothing is
# fetched when they are all present (the kit's own debootstrap base image).
set -eu
missing=""
for pkg in $(grep -v '^#' "$1"); do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    rm -rf /var/lib/apt/lists/*
else
    echo "all packages already in the base image"
fi
