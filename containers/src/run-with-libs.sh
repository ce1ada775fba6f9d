#!/bin/sh
# Runs NAME.bin, beside this script, with the libraries beside it and their own loader:
# on a machine reached over SSH, which has neither the kit's libraries nor, perhaps,
# the same glibc. Installed under the program's NAME.
here=$(dirname "$0")
exec "$here"/ld-linux-*.so.* --library-path "$here" "$0.bin" "$@"
