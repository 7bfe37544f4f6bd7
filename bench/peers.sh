#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the peers of socksbench from their sources, in place, without the
# network: each one whose source tree is under DIR, as its repository
# clones to.  Get them first, e.g.
#
#   git clone https://github.com/rofl0r/microsocks DIR/microsocks
#   git clone https://github.com/3proxy/3proxy DIR/3proxy
#   git clone --recursive https://github.com/heiher/hev-socks5-server \
#       DIR/hev-socks5-server
#
# then `bench/peers.sh DIR` and `make bench PEERS=DIR` (or socksbench
# --peers DIR).  Keep DIR out of this tree.  JOBS sets make's -j (2).
set -eu

usage() {
	echo "usage: peers.sh DIR   (see the top of this file)" >&2
	exit 2
}

[ $# -eq 1 ] || usage
[ -d "$1" ] || { echo "peers.sh: $1: no such directory" >&2; exit 1; }
dir=$(cd "$1" && pwd)
jobs=${JOBS:-2}
built=0

# the commit a tree was built from, when it is a git checkout of its own
version() {
	if [ -e "$1/.git" ]; then
		git -C "$1" rev-parse --short HEAD
	else
		echo "not a git checkout"
	fi
}

# NAME SRCDIR BINARY MAKE-ARGS...: builds one peer, if its sources are there
build() {
	name=$1 src=$dir/$2 bin=$dir/$2/$3
	shift 3
	if [ ! -f "$src/Makefile" ] && [ ! -f "$src/Makefile.Linux" ]; then
		echo "peers.sh: $name: no sources in $src: skipped"
		return 0
	fi
	echo "peers.sh: $name: building in $src ($(version "$src"))"
	make -C "$src" -j"$jobs" "$@" > "$src/peers-build.log" 2>&1 || {
		echo "peers.sh: $name: the build failed; see $src/peers-build.log" >&2
		exit 1
	}
	[ -x "$bin" ] || { echo "peers.sh: $name: no $bin after the build" >&2; exit 1; }
	echo "peers.sh: $name: $bin"
	built=$((built + 1))
}

build mshead microsocks microsocks

build 3proxy 3proxy bin/3proxy -f Makefile.Linux

# its submodules (the task system, the YAML parser, the SOCKS5 core) come
# with clone --recursive, or with git submodule update --init
hev=$dir/hev-socks5-server
if [ -f "$hev/Makefile" ]; then
	for sub in src/core third-part/hev-task-system third-part/yaml; do
		if [ -z "$(ls -A "$hev/$sub" 2>/dev/null)" ]; then
			echo "peers.sh: hev: $hev/$sub is empty: run" \
			    "git submodule update --init in $hev" >&2
			exit 1
		fi
	done
fi
build hev hev-socks5-server bin/hev-socks5-server

echo "peers.sh: $built built; run them with: make bench PEERS=$dir"
